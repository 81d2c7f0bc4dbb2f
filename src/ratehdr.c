/* SPDX-License-Identifier: MIT */
/* ratehdr.c - a response's rate-limit fields read into one description of
 * the quota (see ratehdr.h), over a small RFC 8941 parser that reads a
 * field's lines in place as one list.
 *
 * Invariants: nothing is allocated and nothing but *out is written; a field
 * is parsed to its end before any value read from it is used, so one syntax
 * error leaves the whole field out; every number compared or multiplied is
 * first cut to its cap, so the arithmetic cannot overflow. */
#include "ratehdr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NS_PER_S INT64_C(1000000000)
#define NAME_MAX_ PACER__RATEHDR_NAME_MAX
#define LIMIT_MAX PACER__RATEHDR_LIMIT_MAX
#define WINDOW_MAX_S PACER__RATEHDR_WINDOW_MAX_S

/* ------------------------------------------------------------------------ */
/* One field, all its lines read as one value joined by ", " (RFC 9110 5.3),
 * without copying. Lines that are empty or blank are skipped, as empty list
 * elements are. */

typedef struct field {
  const pacer_header_t *h;
  size_t n, i; /* i: the line being read */
  const char *name;
  const char *p; /* in h[i].value; NULL past the last line */
  int glue;      /* characters of ", " still to give between two lines */
} field_t;

static int is_blank(const char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  return *s == '\0';
}

static size_t next_line(const field_t *f, size_t from)
{
  for (size_t j = from; j < f->n; j++)
    if (f->h[j].name && f->h[j].value && !strcasecmp(f->h[j].name, f->name) &&
        !is_blank(f->h[j].value))
      return j;
  return f->n;
}

/* 1 if the field called name has a line that is not blank. */
static int field_open(field_t *f, const pacer_header_t *h, size_t n,
                      const char *name)
{
  f->h = h;
  f->n = h ? n : 0;
  f->name = name;
  f->glue = 0;
  f->i = next_line(f, 0);
  f->p = f->i < f->n ? h[f->i].value : NULL;
  return f->p != NULL;
}

/* The next character, or -1 at the end of the field. */
static int peek(field_t *f)
{
  for (;;) {
    if (f->glue)
      return f->glue == 2 ? ',' : ' ';
    if (f->p == NULL)
      return -1;
    if (*f->p)
      return (unsigned char)*f->p;
    size_t j = next_line(f, f->i + 1);
    if (j == f->n) {
      f->p = NULL;
      return -1;
    }
    f->i = j;
    f->p = f->h[j].value;
    f->glue = 2;
  }
}

static void next(field_t *f)
{
  if (peek(f) < 0)
    return;
  if (f->glue)
    f->glue--;
  else
    f->p++;
}

static void skip_sp(field_t *f)
{
  while (peek(f) == ' ')
    next(f);
}

static void skip_ows(field_t *f)
{
  int c;
  while ((c = peek(f)) == ' ' || c == '\t')
    next(f);
}

/* ------------------------------------------------------------------------ */
/* RFC 8941 (and RFC 9651's Date): bare items, parameters, lists,
 * dictionaries. Only what this module reads is kept. */

static int is_digit(int c)
{
  return c >= '0' && c <= '9';
}
static int is_alpha(int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int is_lcalpha(int c)
{
  return c >= 'a' && c <= 'z';
}
static int is_tchar(int c)
{
  return is_alpha(c) || is_digit(c) ||
         (c > 0 && c < 128 && strchr("!#$%&'*+-.^_`|~", c));
}

enum { SF_INT, SF_DEC, SF_STR, SF_TOK, SF_BYTES, SF_BOOL, SF_DATE };

typedef struct sfitem {
  int type;
  int64_t num;           /* SF_INT, SF_DATE, SF_BOOL; SF_DEC: integer part */
  char s[NAME_MAX_ + 1]; /* SF_STR, SF_TOK: the first NAME_MAX_ bytes */
  size_t len;            /* SF_STR, SF_TOK: the whole length */
} sfitem_t;

static int parse_number(field_t *f, sfitem_t *it)
{
  int neg = 0, digits = 0, frac = 0, c;
  int64_t v = 0;

  if (peek(f) == '-') {
    neg = 1;
    next(f);
  }
  while (is_digit(c = peek(f))) {
    if (++digits > 15)
      return -1;
    v = v * 10 + (c - '0');
    next(f);
  }
  if (!digits)
    return -1;
  it->type = SF_INT;
  if (peek(f) == '.') {
    if (digits > 12)
      return -1;
    next(f);
    while (is_digit(peek(f))) {
      if (++frac > 3)
        return -1;
      next(f);
    }
    if (!frac)
      return -1;
    it->type = SF_DEC;
  }
  it->num = neg ? -v : v;
  return 0;
}

static void keep_char(sfitem_t *it, int c)
{
  if (it->len < NAME_MAX_)
    it->s[it->len] = (char)c;
  it->len++;
}

static void end_chars(sfitem_t *it)
{
  it->s[it->len < NAME_MAX_ ? it->len : NAME_MAX_] = '\0';
}

static int parse_string(field_t *f, sfitem_t *it)
{
  next(f); /* '"' */
  it->type = SF_STR;
  it->len = 0;
  for (;;) {
    int c = peek(f);
    if (c < 0)
      return -1;
    next(f);
    if (c == '"')
      break;
    if (c == '\\') {
      c = peek(f);
      if (c != '"' && c != '\\')
        return -1;
      next(f);
    } else if (c < 0x20 || c > 0x7e) {
      return -1;
    }
    keep_char(it, c);
  }
  end_chars(it);
  return 0;
}

static int parse_token(field_t *f, sfitem_t *it)
{
  int c;
  it->type = SF_TOK;
  it->len = 0;
  while (is_tchar(c = peek(f)) || c == ':' || c == '/') {
    keep_char(it, c);
    next(f);
  }
  end_chars(it);
  return 0;
}

static int parse_bytes(field_t *f, sfitem_t *it)
{
  int c;
  next(f); /* ':' */
  it->type = SF_BYTES;
  while ((c = peek(f)) != ':') {
    if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '='))
      return -1;
    next(f);
  }
  next(f);
  return 0;
}

static int parse_bare(field_t *f, sfitem_t *it)
{
  int c = peek(f);

  if (c == '-' || is_digit(c))
    return parse_number(f, it);
  if (c == '"')
    return parse_string(f, it);
  if (c == '*' || is_alpha(c))
    return parse_token(f, it);
  if (c == ':')
    return parse_bytes(f, it);
  if (c == '?') {
    next(f);
    c = peek(f);
    if (c != '0' && c != '1')
      return -1;
    next(f);
    it->type = SF_BOOL;
    it->num = c == '1';
    return 0;
  }
  if (c == '@') {
    next(f);
    if (parse_number(f, it) || it->type != SF_INT)
      return -1;
    it->type = SF_DATE;
    return 0;
  }
  return -1;
}

/* A key, kept in k[cap] when it fits, else as "" (no key read here is long);
 * RFC 8941 keys are lower case. */
static int parse_key(field_t *f, char *k, size_t cap)
{
  size_t n = 0;
  int c = peek(f);

  if (!is_lcalpha(c) && c != '*')
    return -1;
  while (is_lcalpha(c = peek(f)) || is_digit(c) || c == '_' || c == '-' ||
         c == '.' || c == '*') {
    if (n + 1 < cap)
      k[n] = (char)c;
    n++;
    next(f);
  }
  k[n < cap ? n : 0] = '\0';
  return 0;
}

/* The parameters read here; any other is skipped. */
enum { P_Q, P_QU, P_W, P_R, P_T, P_PK, P_COUNT };
static const char *const param_names[P_COUNT] = {"q", "qu", "w",
                                                 "r", "t",  "pk"};

typedef struct params {
  int set[P_COUNT];
  sfitem_t v[P_COUNT]; /* a key given twice keeps its last value */
} params_t;

static int parse_params(field_t *f, params_t *p)
{
  memset(p->set, 0, sizeof p->set);
  while (peek(f) == ';') {
    char key[8];
    sfitem_t v;
    next(f);
    skip_sp(f);
    if (parse_key(f, key, sizeof key))
      return -1;
    v.type = SF_BOOL;
    v.num = 1;
    if (peek(f) == '=') {
      next(f);
      if (parse_bare(f, &v))
        return -1;
    }
    for (int i = 0; i < P_COUNT; i++)
      if (!strcmp(key, param_names[i])) {
        p->set[i] = 1;
        p->v[i] = v;
      }
  }
  return 0;
}

typedef struct member {
  int inner; /* 1: an inner list (its items are checked, not kept) */
  sfitem_t item;
  params_t params;
} member_t;

static int parse_inner(field_t *f, member_t *m)
{
  next(f); /* '(' */
  m->inner = 1;
  for (;;) {
    skip_sp(f);
    if (peek(f) == ')') {
      next(f);
      return parse_params(f, &m->params);
    }
    if (parse_bare(f, &m->item) || parse_params(f, &m->params))
      return -1;
    int c = peek(f);
    if (c != ' ' && c != ')')
      return -1;
  }
}

static int parse_member(field_t *f, member_t *m)
{
  if (peek(f) == '(')
    return parse_inner(f, m);
  m->inner = 0;
  return parse_bare(f, &m->item) || parse_params(f, &m->params) ? -1 : 0;
}

/* Called with each member in order; key is NULL for a list's. The members
 * of a field that then fails to parse must be forgotten by the caller. */
typedef void (*member_fn)(void *ctx, const char *key, const member_t *m);

/* After a member: 1 at the end, 0 after a comma, -1 on a syntax error. */
static int after_member(field_t *f)
{
  skip_ows(f);
  if (peek(f) < 0)
    return 1;
  if (peek(f) != ',')
    return -1;
  next(f);
  skip_ows(f);
  return peek(f) < 0 ? -1 : 0; /* a trailing comma */
}

static int parse_list(field_t *f, member_fn fn, void *ctx)
{
  member_t m;
  int rc;

  skip_ows(f);
  do {
    if (parse_member(f, &m))
      return -1;
    fn(ctx, NULL, &m);
  } while ((rc = after_member(f)) == 0);
  return rc < 0 ? -1 : 0;
}

static int parse_dict(field_t *f, member_fn fn, void *ctx)
{
  member_t m;
  char key[16];
  int rc;

  skip_ows(f);
  do {
    if (parse_key(f, key, sizeof key))
      return -1;
    if (peek(f) == '=') {
      next(f);
      if (parse_member(f, &m))
        return -1;
    } else {
      m.inner = 0;
      m.item.type = SF_BOOL;
      m.item.num = 1;
      if (parse_params(f, &m.params))
        return -1;
    }
    fn(ctx, key, &m);
  } while ((rc = after_member(f)) == 0);
  return rc < 0 ? -1 : 0;
}

/* An Item field: 0 and *it, or -1 (absent, malformed, or a list). */
static int parse_item_field(const pacer_header_t *h, size_t n, const char *name,
                            sfitem_t *it)
{
  field_t f;
  params_t p;

  if (!field_open(&f, h, n, name))
    return -1;
  skip_ows(&f);
  if (parse_bare(&f, it) || parse_params(&f, &p))
    return -1;
  skip_ows(&f);
  return peek(&f) < 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Values */

/* An Integer that is not negative, or -1. */
static int64_t count_of(const sfitem_t *it)
{
  return it->type == SF_INT && it->num >= 0 ? it->num : -1;
}

/* A parameter that, when given, must be a non-negative Integer: 0 with
 * *out (-1 when absent), or -1 when it is there with another value. */
static int count_param(const params_t *p, int which, int64_t *out)
{
  *out = -1;
  if (!p->set[which])
    return 0;
  *out = count_of(&p->v[which]);
  return *out < 0 ? -1 : 0;
}

/* A reset as sent, whole units and the fraction of a second in ns, turned
 * into ns from now (saturated, never negative); -1 past 10^15. Below 10^9
 * it is a delay in seconds (10^9 s is 31 years, no delay a server means);
 * from 10^9 it is a Unix time in seconds, from 10^12 in milliseconds (both
 * bounds are September 2001). A Unix time not after now is 0: reset now. */
static int64_t reset_delta_ns(int64_t whole, int64_t frac_ns, int64_t now_ns)
{
  int64_t at;

  if (whole < 0 || whole >= INT64_C(1000000000000000))
    return -1;
  if (whole < INT64_C(1000000000))
    return whole * NS_PER_S + frac_ns;
  if (whole < INT64_C(1000000000000))
    at = whole > INT64_MAX / NS_PER_S - 1 ? INT64_MAX
                                          : whole * NS_PER_S + frac_ns;
  else
    at = whole > INT64_MAX / 1000000 - 1 ? INT64_MAX
                                         : whole * 1000000 + frac_ns / 1000;
  if (at <= now_ns)
    return 0;
  if (now_ns < 0 && at > INT64_MAX + now_ns)
    return INT64_MAX;
  return at - now_ns;
}

/* ------------------------------------------------------------------------ */
/* IETF, draft-08 and later */

typedef struct policy {
  char name[NAME_MAX_ + 1];
  size_t len;
  int64_t q, w; /* w: -1 when not given */
  int other;    /* 1: counts something else than requests (qu) */
} policy_t;

typedef struct policies {
  policy_t p[PACER__RATEHDR_POLICIES];
  size_t n;
} policies_t;

/* A String or Token short enough to be matched by name. */
static int named(const member_t *m)
{
  return !m->inner && (m->item.type == SF_STR || m->item.type == SF_TOK) &&
         m->item.len <= NAME_MAX_;
}

static const policy_t *find_policy(const policies_t *ps, const sfitem_t *it)
{
  for (size_t i = 0; i < ps->n; i++)
    if (ps->p[i].len == it->len && !memcmp(ps->p[i].name, it->s, it->len))
      return &ps->p[i];
  return NULL;
}

/* A pk, when given, is a Byte Sequence. */
static int pk_ok(const params_t *p)
{
  return !p->set[P_PK] || p->v[P_PK].type == SF_BYTES;
}

/* RateLimit-Policy: "name";q=100;w=60, ... q is required, w optional and
 * positive. A policy whose qu is not "requests" counts bytes or concurrent
 * requests, not what pacer paces: it is kept only so that the RateLimit
 * items of its name are left out. The first item of a name is kept. */
static void on_policy(void *ctx, const char *key, const member_t *m)
{
  policies_t *ps = ctx;
  const params_t *p = &m->params;
  int64_t q, w;
  int other = 0;

  (void)key;
  if (!named(m) || count_param(p, P_Q, &q) || q < 0 ||
      count_param(p, P_W, &w) || w == 0 || !pk_ok(p))
    return;
  if (p->set[P_QU]) {
    const sfitem_t *qu = &p->v[P_QU];
    other = (qu->type != SF_STR && qu->type != SF_TOK) ||
            strcmp(qu->s, "requests") != 0;
  }
  if (find_policy(ps, &m->item) || ps->n == PACER__RATEHDR_POLICIES)
    return;
  policy_t *np = &ps->p[ps->n++];
  memcpy(np->name, m->item.s, m->item.len + 1);
  np->len = m->item.len;
  np->q = q;
  np->w = w;
  np->other = other;
}

/* One candidate for the binding policy. */
typedef struct cand {
  const char *name;  /* borrowed from the member or the policy table */
  int64_t limit;     /* q, -1 unknown */
  int64_t remaining; /* r (for a policy alone: -1) */
  int64_t reset_ns;  /* from t, -1 unknown */
  int64_t window_s;  /* w, -1 unknown */
  /* For the comparison, cut to their caps: */
  uint64_t rank_r; /* what is left: r (or q for a policy alone) */
  int64_t rank_h;  /* over how long, s: t, else w; -1 unknown */
} cand_t;

/* 1 if a leaves a lower rate than b: rank_r / rank_h the lower (cross-
 * multiplied: both are capped, so the products fit in 64 bits); on a tie
 * the longer horizon, then the smaller quota. An exhausted candidate with
 * no horizon binds over one with quota left; otherwise one with a horizon
 * binds over one without. */
static int binds_more(const cand_t *a, const cand_t *b)
{
  if (a->rank_h >= 0 && b->rank_h >= 0) {
    uint64_t x = a->rank_r * (uint64_t)b->rank_h;
    uint64_t y = b->rank_r * (uint64_t)a->rank_h;
    if (x != y)
      return x < y;
    if (a->rank_h != b->rank_h)
      return a->rank_h > b->rank_h;
    return a->rank_r < b->rank_r;
  }
  if (a->rank_h < 0 && b->rank_h < 0)
    return a->rank_r < b->rank_r;
  if (a->rank_h < 0)
    return a->rank_r == 0 && b->rank_r > 0;
  return !(b->rank_r == 0 && a->rank_r > 0);
}

typedef struct pick {
  const policies_t *ps;
  int64_t now_ns, cap_s;
  int have;
  cand_t best;
  char name[NAME_MAX_ + 1]; /* best.name's copy */
} pick_t;

static void offer(pick_t *pk, cand_t *c)
{
  if (c->rank_r > (uint64_t)LIMIT_MAX)
    c->rank_r = (uint64_t)LIMIT_MAX;
  if (!pk->have || binds_more(c, &pk->best)) {
    pk->have = 1;
    pk->best = *c;
    memcpy(pk->name, c->name, strlen(c->name) + 1);
    pk->best.name = pk->name;
  }
}

static int64_t horizon_s(int64_t reset_ns, int64_t window_s, int64_t cap_s)
{
  int64_t h;
  if (reset_ns >= 0)
    h = reset_ns / NS_PER_S + (reset_ns % NS_PER_S != 0);
  else if (window_s >= 0)
    h = window_s;
  else
    return -1;
  return h < cap_s ? h : cap_s;
}

/* RateLimit: "name";r=17;t=23, ... r is required; t is optional. */
static void on_limit_item(void *ctx, const char *key, const member_t *m)
{
  pick_t *pk = ctx;
  const params_t *p = &m->params;
  const policy_t *pol;
  int64_t r, t;
  cand_t c;

  (void)key;
  if (!named(m) || count_param(p, P_R, &r) || r < 0 ||
      count_param(p, P_T, &t) || !pk_ok(p))
    return;
  pol = find_policy(pk->ps, &m->item);
  if (pol && pol->other)
    return; /* r and t count bytes or concurrent requests */
  c.name = m->item.s;
  c.limit = pol ? pol->q : -1;
  c.remaining = r;
  c.reset_ns = t >= 0 ? reset_delta_ns(t, 0, pk->now_ns) : -1;
  c.window_s = pol ? pol->w : -1;
  c.rank_r = (uint64_t)r;
  c.rank_h = horizon_s(c.reset_ns,
                       c.window_s < WINDOW_MAX_S ? c.window_s : WINDOW_MAX_S,
                       pk->cap_s);
  offer(pk, &c);
}

/* ------------------------------------------------------------------------ */
/* Older drafts */

typedef struct olddict {
  int64_t limit, remaining, reset; /* -1 unknown */
} olddict_t;

/* RateLimit: limit=100, remaining=17, reset=23 (draft-07). */
static void on_old_dict(void *ctx, const char *key, const member_t *m)
{
  olddict_t *d = ctx;
  int64_t v = m->inner ? -1 : count_of(&m->item);

  if (!strcmp(key, "limit"))
    d->limit = v;
  else if (!strcmp(key, "remaining"))
    d->remaining = v;
  else if (!strcmp(key, "reset"))
    d->reset = v;
}

typedef struct oldlimit {
  int64_t limit;  /* the value of the first member */
  int64_t window; /* w of a member of that value */
  size_t members;
} oldlimit_t;

/* RateLimit-Limit: 100, 100;w=60 (drafts up to -06: the limit, then the
 * policies) and RateLimit-Policy: 100;w=60 (up to -07): the window is the w
 * of the first member whose quota is the limit. The caller sets limit
 * before parsing RateLimit-Policy. */
static void on_old_limit(void *ctx, const char *key, const member_t *m)
{
  oldlimit_t *o = ctx;
  int64_t v = m->inner ? -1 : count_of(&m->item), w;

  (void)key;
  if (o->members++ == 0 && o->limit < 0)
    o->limit = v;
  if (v >= 0 && v == o->limit && o->window < 0 &&
      count_param(&m->params, P_W, &w) == 0 && w > 0)
    o->window = w;
}

/* ------------------------------------------------------------------------ */
/* X-RateLimit-*: plain numbers, not Structured Fields */

/* Reads name as one number: digits (at most 15) and an optional fraction
 * (kept to the ns in *frac_ns). Repeated lines must agree. 0 and the
 * value, or -1 (absent or malformed). */
static int x_number(const pacer_header_t *h, size_t n, const char *name,
                    int64_t *whole, int64_t *frac_ns)
{
  field_t f;
  int first = 1, rc;

  if (!field_open(&f, h, n, name))
    return -1;
  skip_ows(&f);
  do {
    int64_t v = 0, fr = 0, scale = NS_PER_S / 10;
    int digits = 0, c;
    while (is_digit(c = peek(&f))) {
      if (++digits > 15)
        return -1;
      v = v * 10 + (c - '0');
      next(&f);
    }
    if (!digits)
      return -1;
    if (peek(&f) == '.') {
      next(&f);
      if (!is_digit(peek(&f)))
        return -1;
      while (is_digit(c = peek(&f))) {
        fr += (c - '0') * scale;
        scale /= 10;
        next(&f);
      }
    }
    if (first) {
      *whole = v;
      *frac_ns = fr;
      first = 0;
    } else if (v != *whole || fr != *frac_ns) {
      return -1;
    }
  } while ((rc = after_member(&f)) == 0);
  return rc < 0 ? -1 : 0;
}

/* X-RateLimit-<what>, else X-Rate-Limit-<what> (Twitter's older name). */
static int x_field(const pacer_header_t *h, size_t n, const char *what,
                   int64_t *whole, int64_t *frac_ns)
{
  char name[40];
  snprintf(name, sizeof name, "X-RateLimit-%s", what);
  if (x_number(h, n, name, whole, frac_ns) == 0)
    return 0;
  snprintf(name, sizeof name, "X-Rate-Limit-%s", what);
  return x_number(h, n, name, whole, frac_ns);
}

/* ------------------------------------------------------------------------ */

/* Sets the values, cut to their caps; found when any is known. */
static void fill(pacer__ratehdr_t *o, int source, int64_t limit,
                 int64_t remaining, int64_t reset_ns, int64_t window_s,
                 int64_t reset_max_ns)
{
  if (limit > LIMIT_MAX) {
    o->limit_raw = limit;
    limit = LIMIT_MAX;
    o->clamped |= PACER__RATEHDR_CLAMP_LIMIT;
  }
  if (remaining > LIMIT_MAX || (limit >= 0 && remaining > limit)) {
    o->remaining_raw = remaining;
    remaining = limit >= 0 ? limit : LIMIT_MAX;
    o->clamped |= PACER__RATEHDR_CLAMP_REMAINING;
  }
  if (reset_ns > reset_max_ns) {
    o->reset_raw_s = reset_ns / NS_PER_S;
    reset_ns = reset_max_ns;
    o->clamped |= PACER__RATEHDR_CLAMP_RESET;
  }
  if (window_s > WINDOW_MAX_S) {
    o->window_raw_s = window_s;
    window_s = WINDOW_MAX_S;
    o->clamped |= PACER__RATEHDR_CLAMP_WINDOW;
  }
  o->limit = limit < 0 ? -1 : limit;
  o->remaining = remaining < 0 ? -1 : remaining;
  o->reset_ns = reset_ns < 0 ? -1 : reset_ns;
  o->window_ns = window_s < 0 ? -1 : window_s * NS_PER_S;
  o->found = o->limit >= 0 || o->remaining >= 0 || o->reset_ns >= 0 ||
             o->window_ns >= 0;
  o->source = o->found ? source : PACER__RATEHDR_NONE;
}

static void nothing(pacer__ratehdr_t *o)
{
  memset(o, 0, sizeof *o);
  o->limit = o->remaining = o->reset_ns = o->window_ns = -1;
  o->limit_raw = o->remaining_raw = o->reset_raw_s = o->window_raw_s = -1;
}

static int read_ietf(const pacer_header_t *h, size_t n, int64_t now_ns,
                     int64_t reset_max_ns, pacer__ratehdr_t *out)
{
  policies_t ps;
  pick_t pk;
  field_t f;

  ps.n = 0;
  if (field_open(&f, h, n, "RateLimit-Policy") &&
      parse_list(&f, on_policy, &ps) != 0)
    ps.n = 0;
  memset(&pk, 0, sizeof pk);
  pk.ps = &ps;
  pk.now_ns = now_ns;
  pk.cap_s = reset_max_ns / NS_PER_S + (reset_max_ns % NS_PER_S != 0);
  if (field_open(&f, h, n, "RateLimit") &&
      parse_list(&f, on_limit_item, &pk) != 0)
    pk.have = 0;
  if (!pk.have) {
    /* Policies alone: the one allowing the lowest rate q / w. */
    for (size_t i = 0; i < ps.n; i++) {
      if (ps.p[i].other)
        continue;
      cand_t c = {ps.p[i].name, ps.p[i].q,           -1, -1,
                  ps.p[i].w,    (uint64_t)ps.p[i].q, -1};
      c.rank_h = horizon_s(
          -1, c.window_s < WINDOW_MAX_S ? c.window_s : WINDOW_MAX_S, pk.cap_s);
      offer(&pk, &c);
    }
  }
  if (!pk.have)
    return 0;
  fill(out, PACER__RATEHDR_IETF, pk.best.limit, pk.best.remaining,
       pk.best.reset_ns, pk.best.window_s, reset_max_ns);
  memcpy(out->policy, pk.name, sizeof out->policy);
  return out->found;
}

static int read_ietf_old(const pacer_header_t *h, size_t n, int64_t now_ns,
                         int64_t reset_max_ns, pacer__ratehdr_t *out)
{
  olddict_t d = {-1, -1, -1};
  oldlimit_t ol = {-1, -1, 0};
  field_t f;
  sfitem_t it;

  if (field_open(&f, h, n, "RateLimit") && parse_dict(&f, on_old_dict, &d))
    d.limit = d.remaining = d.reset = -1;
  if (d.limit < 0 && d.remaining < 0 && d.reset < 0) {
    /* The separate fields of the drafts up to -06. */
    if (field_open(&f, h, n, "RateLimit-Limit") &&
        parse_list(&f, on_old_limit, &ol))
      ol.limit = ol.window = -1;
    d.limit = ol.limit;
    if (parse_item_field(h, n, "RateLimit-Remaining", &it) == 0)
      d.remaining = count_of(&it);
    if (parse_item_field(h, n, "RateLimit-Reset", &it) == 0)
      d.reset = count_of(&it);
  }
  if (d.limit < 0 && d.remaining < 0 && d.reset < 0)
    return 0;
  if (ol.window < 0 && d.limit >= 0) {
    oldlimit_t pol = {d.limit, -1, 0};
    if (field_open(&f, h, n, "RateLimit-Policy") &&
        parse_list(&f, on_old_limit, &pol) == 0)
      ol.window = pol.window;
  }
  fill(out, PACER__RATEHDR_IETF_OLD, d.limit, d.remaining,
       d.reset >= 0 ? reset_delta_ns(d.reset, 0, now_ns) : -1, ol.window,
       reset_max_ns);
  return out->found;
}

static int read_x(const pacer_header_t *h, size_t n, int64_t now_ns,
                  int64_t reset_max_ns, pacer__ratehdr_t *out)
{
  int64_t limit = -1, remaining = -1, whole, frac, reset = -1;

  /* Counts with a fraction (Reddit sends "598.0") lose it: rounding down
   * never claims more than was announced. */
  if (x_field(h, n, "Limit", &limit, &frac))
    limit = -1;
  if (x_field(h, n, "Remaining", &remaining, &frac))
    remaining = -1;
  if (x_field(h, n, "Reset", &whole, &frac) == 0)
    reset = reset_delta_ns(whole, frac, now_ns);
  fill(out, PACER__RATEHDR_X, limit, remaining, reset, -1, reset_max_ns);
  return out->found;
}

int pacer__ratehdr_read(const pacer_header_t *headers, size_t count,
                        int64_t wall_now_ns, int64_t reset_max_ns,
                        pacer__ratehdr_t *out)
{
  if (reset_max_ns <= 0)
    reset_max_ns = PACER__RATEHDR_RESET_MAX_NS;
  nothing(out);
  if (read_ietf(headers, count, wall_now_ns, reset_max_ns, out))
    return 1;
  nothing(out);
  if (read_ietf_old(headers, count, wall_now_ns, reset_max_ns, out))
    return 1;
  nothing(out);
  if (read_x(headers, count, wall_now_ns, reset_max_ns, out))
    return 1;
  nothing(out);
  return 0;
}

const char *pacer__ratehdr_source_name(int source)
{
  switch (source) {
  case PACER__RATEHDR_IETF:
    return "IETF";
  case PACER__RATEHDR_IETF_OLD:
    return "IETF-old";
  case PACER__RATEHDR_X:
    return "X-RateLimit";
  default:
    return "none";
  }
}
