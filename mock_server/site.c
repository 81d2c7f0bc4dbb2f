/* SPDX-License-Identifier: MIT */
/* site.c - pacer-mock's generated content: a small web site and a JSON item
 * catalogue for examples to crawl and fan out over.
 *
 * GET /site/N     HTML page N of `pages` (query, else --site-pages), with
 *                 `links` links (default 5) to other pages and one to
 *                 /site/999999, which is out of range and answers 404.
 * GET /items      {"items": [{"id": 1, "url": "/item/1"}, ...]}, `count`
 *                 items (default 20).
 * GET /item/K     {"id": K, "price": (K*37)%100 + 1}.
 *
 * Invariants: every answer is a pure function of the path and the query, so
 * a client can compute what it should have seen. Link i of page N goes to
 * page (N + 1) % pages when i = 0 and to (N*7 + i*13 + 1) % pages otherwise:
 * the first links make a ring, so every page is reachable from page 0. The
 * pages and links values printed into hrefs are the parsed numbers, never
 * the raw query text, so nothing needs escaping (a bare '&' before "links="
 * is valid HTML5 in an attribute). */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_MAX_PAGES 100000u /* keeps /site/999999 out of range */
#define SITE_MISSING 999999u
#define SITE_MAX_LINKS 100u
#define SITE_MAX_COUNT 100000u
#define ITEM_MAX_ID 1000000000u

static void answer_text(site_answer_t *out, int status, const char *msg)
{
  out->status = status;
  out->type = "text/plain";
  out->body = strdup(msg);
  out->len = out->body ? strlen(out->body) : 0;
}

/* Reads query parameter name into *v (left alone if absent); false after
 * answering 400 if it is there but not an integer in [lo, hi]. *given says
 * whether it was there. */
static bool query_uint(struct MHD_Connection *c, const char *name, uint64_t lo,
                       uint64_t hi, uint64_t *v, bool *given,
                       site_answer_t *out)
{
  const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
  if (given)
    *given = s != NULL;
  if (s == NULL)
    return true;
  uint64_t u;
  if (!mock_parse_u64(s, hi, &u) || u < lo) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "bad value for %s: '%.40s' (expected %llu..%llu)\n", name, s,
             (unsigned long long)lo, (unsigned long long)hi);
    answer_text(out, 400, msg);
    return false;
  }
  *v = u;
  return true;
}

static void site_page(struct MHD_Connection *c, const char *num,
                      unsigned default_pages, site_answer_t *out)
{
  uint64_t pages = default_pages, links = 5, n;
  bool has_pages, has_links;
  if (!query_uint(c, "pages", 1, SITE_MAX_PAGES, &pages, &has_pages, out) ||
      !query_uint(c, "links", 0, SITE_MAX_LINKS, &links, &has_links, out))
    return;
  if (!mock_parse_u64(num, UINT64_MAX, &n) || n >= pages) {
    answer_text(out, 404, "no such page\n");
    return;
  }

  /* The query every href carries: the parameters this request gave. */
  char q[64] = "";
  if (has_pages && has_links)
    snprintf(q, sizeof q, "?pages=%llu&links=%llu", (unsigned long long)pages,
             (unsigned long long)links);
  else if (has_pages)
    snprintf(q, sizeof q, "?pages=%llu", (unsigned long long)pages);
  else if (has_links)
    snprintf(q, sizeof q, "?links=%llu", (unsigned long long)links);

  /* A link line is at most ~60 bytes plus the query. */
  size_t cap = 128 + (links + 1) * (80 + sizeof q), len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) {
    answer_text(out, 500, "out of memory\n");
    return;
  }
  len +=
      (size_t)snprintf(buf + len, cap - len, "<html><body><h1>Page %llu</h1>\n",
                       (unsigned long long)n);
  for (uint64_t i = 0; i < links; i++) {
    uint64_t m = i == 0 ? (n + 1) % pages : (n * 7 + i * 13 + 1) % pages;
    len += (size_t)snprintf(buf + len, cap - len,
                            "<a href=\"/site/%llu%s\">page %llu</a>\n",
                            (unsigned long long)m, q, (unsigned long long)m);
  }
  len += (size_t)snprintf(buf + len, cap - len,
                          "<a href=\"/site/%u%s\">missing</a>\n"
                          "</body></html>\n",
                          SITE_MISSING, q);
  out->status = 200;
  out->type = "text/html; charset=utf-8";
  out->body = buf;
  out->len = len;
}

/* Takes j; answers 500 if it or its text could not be made. */
static void answer_json(site_answer_t *out, json_t *j)
{
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (text == NULL) {
    answer_text(out, 500, "out of memory\n");
    return;
  }
  out->status = 200;
  out->type = "application/json";
  out->body = text;
  out->len = strlen(text);
}

static void item_list(struct MHD_Connection *c, site_answer_t *out)
{
  uint64_t count = 20;
  if (!query_uint(c, "count", 0, SITE_MAX_COUNT, &count, NULL, out))
    return;
  json_t *items = json_array();
  for (uint64_t k = 1; items && k <= count; k++) {
    char url[32];
    snprintf(url, sizeof url, "/item/%llu", (unsigned long long)k);
    if (json_array_append_new(
            items, json_pack("{s:I, s:s}", "id", (json_int_t)k, "url", url))) {
      json_decref(items);
      items = NULL;
    }
  }
  answer_json(out, items ? json_pack("{s:o}", "items", items) : NULL);
}

static void item(const char *num, site_answer_t *out)
{
  uint64_t k;
  if (!mock_parse_u64(num, ITEM_MAX_ID, &k)) {
    answer_text(out, 404, "no such item\n");
    return;
  }
  answer_json(out, json_pack("{s:I, s:I}", "id", (json_int_t)k, "price",
                             (json_int_t)site_item_price(k)));
}

bool site_answer(struct MHD_Connection *c, const char *url,
                 unsigned default_pages, site_answer_t *out)
{
  memset(out, 0, sizeof *out);
  if (strncmp(url, "/site/", 6) == 0)
    site_page(c, url + 6, default_pages, out);
  else if (strcmp(url, "/items") == 0)
    item_list(c, out);
  else if (strncmp(url, "/item/", 6) == 0)
    item(url + 6, out);
  else
    return false;
  return true;
}
