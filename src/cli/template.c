/* SPDX-License-Identifier: MIT */
/* template.c - placeholders ({NAME}) filled from --define and CSV columns,
 * in templates and in the string values of JSON job lines.
 *
 * A placeholder is '{', a name of [A-Za-z0-9_.-], '}'; any other '{' is
 * literal, so JSON text needs no escaping around placeholders. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static int unreserved(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends v (n bytes) to b escaped as esc says. */
static void put_escaped(cli_buf_t *b, const char *v, size_t n,
                        cli_tpl_escape_t esc)
{
  static const char hex[] = "0123456789ABCDEF";
  if (esc == CLI_TPL_RAW) {
    cli_buf_put(b, v, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    char e[8];
    if (esc == CLI_TPL_URL) {
      if (unreserved(c)) {
        cli_buf_put(b, v + i, 1);
      } else {
        e[0] = '%';
        e[1] = hex[c >> 4];
        e[2] = hex[c & 15];
        cli_buf_put(b, e, 3);
      }
    } else if (c == '"' || c == '\\') {
      e[0] = '\\';
      e[1] = (char)c;
      cli_buf_put(b, e, 2);
    } else if (c < 0x20 || c == 0x7f) {
      e[0] = '\\';
      e[1] = 'u';
      e[2] = '0';
      e[3] = '0';
      e[4] = hex[c >> 4];
      e[5] = hex[c & 15];
      cli_buf_put(b, e, 6);
    } else {
      cli_buf_put(b, v + i, 1);
    }
  }
}

int cli_tpl_fill(const char *tpl, size_t len, cli_tpl_escape_t esc,
                 cli_tpl_lookup_cb lookup, void *user,
                 cli_tpl_lookup_cb raw_lookup, void *raw_user, char **out,
                 size_t *out_len, char *err, size_t errlen)
{
  cli_buf_t b;
  cli_buf_init(&b);
  cli_buf_put(&b, "", 0); /* NUL-terminated even when empty */
  *out = NULL;
  size_t i = 0;
  while (i < len) {
    const char *open = memchr(tpl + i, '{', len - i);
    size_t at = open ? (size_t)(open - tpl) : len;
    cli_buf_put(&b, tpl + i, at - i);
    if (at == len)
      break;
    size_t j = at + 1;
    while (j < len && name_char(tpl[j]))
      j++;
    if (j == at + 1 || j == len || tpl[j] != '}') { /* a literal '{' */
      cli_buf_put(&b, "{", 1);
      i = at + 1;
      continue;
    }
    const char *name = tpl + at + 1;
    size_t nlen = j - at - 1, vlen = 0;
    const char *v = raw_lookup ? raw_lookup(raw_user, name, nlen, &vlen) : NULL;
    if (v) {
      cli_buf_put(&b, v, vlen);
    } else if (lookup && (v = lookup(user, name, nlen, &vlen))) {
      put_escaped(&b, v, vlen, esc);
    } else {
      cli_buf_free(&b);
      return cli_fail(err, errlen, "unknown placeholder {%.*s}",
                      (int)(nlen < 64 ? nlen : 64), name);
    }
    i = j + 1;
  }
  if (b.failed) {
    cli_buf_free(&b);
    return cli_fail(err, errlen, "out of memory");
  }
  *out_len = b.len;
  *out = b.p == b.inl ? malloc(b.len + 1) : b.p;
  if (!*out)
    return cli_fail(err, errlen, "out of memory");
  if (b.p == b.inl)
    memcpy(*out, b.inl, b.len + 1);
  return 0;
}

const char *cli_define_lookup(void *user, const char *name, size_t len,
                              size_t *vlen)
{
  const cli_opts_t *o = user;
  for (size_t i = o->define_count; i-- > 0;) {
    const char *d = o->defines[i], *eq = strchr(d, '=');
    if (eq && (size_t)(eq - d) == len && !memcmp(d, name, len)) {
      *vlen = strlen(eq + 1);
      return eq + 1;
    }
  }
  return NULL;
}

/* Fills the string values under v (keys are left alone). 1 when one
 * changed, 0 when none, -1 with err. */
static int fill_json(const cli_opts_t *o, json_t *v, char *err, size_t errlen)
{
  int changed = 0, r;
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), olen = 0;
    if (!memchr(s, '{', n))
      return 0;
    char *f = NULL;
    if (cli_tpl_fill(s, n, CLI_TPL_RAW, cli_define_lookup, (void *)o, NULL,
                     NULL, &f, &olen, err, errlen))
      return -1;
    r = json_string_setn(v, f, olen);
    free(f);
    return r ? cli_fail(err, errlen, "not UTF-8 once filled") : 1;
  }
  if (json_is_object(v)) {
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
    {
      if ((r = fill_json(o, e, err, errlen)) < 0)
        return -1;
      changed |= r;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
      if ((r = fill_json(o, e, err, errlen)) < 0)
        return -1;
      changed |= r;
    }
  }
  return changed;
}

int cli_tpl_jobline(const cli_opts_t *o, const char *line, size_t len,
                    unsigned long lineno, char **out, size_t *out_len,
                    char *err, size_t errlen)
{
  char why[256];
  *out = NULL;
  if (!memchr(line, '{', len))
    return 0;
  json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
  if (!root)
    return 0; /* cli_job_parse() says why */
  int r = fill_json(o, root, why, sizeof why);
  if (r > 0) {
    *out = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!*out)
      r = cli_fail(why, sizeof why, "out of memory");
    else
      *out_len = strlen(*out);
  }
  json_decref(root);
  if (r < 0)
    return cli_fail(err, errlen, "line %lu: %s", lineno, why);
  return 0;
}
