/* SPDX-License-Identifier: MIT */
/* test_http.c - URL, method and header checks, HTTP dates and Retry-After.
 * curl's URL API and curl_getdate() need no network; wall time is a
 * parameter, so nothing here reads a clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http.h"
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS INT64_C(1000000000)
/* "Sun, 06 Nov 1994 08:49:37 GMT", the RFC 9110 example. */
#define RFC_EXAMPLE_S INT64_C(784111777)

/* ---- URLs ---------------------------------------------------------------- */

static void url_accepts_http_and_https(void **state)
{
  char host[64];

  (void)state;
  assert_int_equal(pacer__url_check("http://example.com/", host, sizeof host),
                   0);
  assert_string_equal(host, "example.com");
  assert_int_equal(pacer__url_check("https://api.example.com:8443/v1?q=1#f",
                                    host, sizeof host),
                   0);
  assert_string_equal(host, "api.example.com");
  /* host may be NULL when the caller only wants the verdict. */
  assert_int_equal(pacer__url_check("https://example.com", NULL, 0), 0);
}

static void url_scheme_and_host_case(void **state)
{
  char host[64];

  (void)state;
  assert_int_equal(
      pacer__url_check("HTTP://Example.COM:8080/x", host, sizeof host), 0);
  assert_string_equal(host, "example.com");
  assert_int_equal(pacer__url_check("HtTpS://WWW.X.Y/", host, sizeof host), 0);
  assert_string_equal(host, "www.x.y");
  /* userinfo and port are not part of the host */
  assert_int_equal(
      pacer__url_check("https://user:pw@Host.Example:1/", host, sizeof host),
      0);
  assert_string_equal(host, "host.example");
}

static void url_ipv6_keeps_brackets(void **state)
{
  char host[64];

  (void)state;
  assert_int_equal(pacer__url_check("http://[::1]:80/", host, sizeof host), 0);
  assert_string_equal(host, "[::1]");
  assert_int_equal(pacer__url_check("http://[2001:DB8::A]/", host, sizeof host),
                   0);
  assert_string_equal(host, "[2001:db8::a]");
}

static void url_invalid(void **state)
{
  char host[64];

  (void)state;
  assert_int_equal(pacer__url_check(NULL, host, sizeof host), PACER_EURL);
  assert_int_equal(pacer__url_check("", host, sizeof host), PACER_EURL);
  assert_int_equal(pacer__url_check("http://", host, sizeof host), PACER_EURL);
  assert_int_equal(pacer__url_check("http://:80/", host, sizeof host),
                   PACER_EURL);
  /* no scheme is not guessed */
  assert_int_equal(pacer__url_check("example.com", host, sizeof host),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("example.com/path", host, sizeof host),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("//example.com/", host, sizeof host),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("http://a b/", host, sizeof host),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("http://x/\r\nHost: y", host, sizeof host),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("http://x:99999/", host, sizeof host),
                   PACER_EURL);
}

static void url_other_schemes(void **state)
{
  char host[64];

  (void)state;
  assert_int_equal(pacer__url_check("file:///etc/passwd", host, sizeof host),
                   PACER_ESCHEME);
  assert_int_equal(pacer__url_check("gopher://x", host, sizeof host),
                   PACER_ESCHEME);
  assert_int_equal(pacer__url_check("ftp://x", host, sizeof host),
                   PACER_ESCHEME);
  assert_int_equal(pacer__url_check("FTP://x/", host, sizeof host),
                   PACER_ESCHEME);
  assert_int_equal(pacer__url_check("httpx://x/", host, sizeof host),
                   PACER_ESCHEME);
  assert_int_equal(pacer__url_check("ws://x/", NULL, 0), PACER_ESCHEME);
}

static void url_host_buffer_too_small(void **state)
{
  char host[12];

  (void)state;
  memset(host, 'Z', sizeof host);
  /* "example.com" needs 12 bytes with its NUL */
  assert_int_equal(pacer__url_check("http://example.com/", host, 12), 0);
  assert_string_equal(host, "example.com");
  assert_int_equal(pacer__url_check("http://example.com/", host, 11),
                   PACER_EURL);
  assert_int_equal(pacer__url_check("http://example.com/", host, 0),
                   PACER_EURL);
}

/* ---- methods ------------------------------------------------------------- */

static void method_tokens(void **state)
{
  char m32[33], m33[34];

  (void)state;
  assert_int_equal(pacer__method_check("GET"), 0);
  assert_int_equal(pacer__method_check("PATCH"), 0);
  assert_int_equal(pacer__method_check("M-SEARCH"), 0);
  assert_int_equal(pacer__method_check("x!#$%&'*+-.^_`|~9"), 0);
  assert_int_equal(pacer__method_check(NULL), PACER_EMETHOD);
  assert_int_equal(pacer__method_check(""), PACER_EMETHOD);
  assert_int_equal(pacer__method_check("GE T"), PACER_EMETHOD);
  assert_int_equal(pacer__method_check("GET\r\n"), PACER_EMETHOD);
  assert_int_equal(pacer__method_check("GET/"), PACER_EMETHOD);
  assert_int_equal(pacer__method_check("G:T"), PACER_EMETHOD);
  assert_int_equal(pacer__method_check("G\xc3\x89T"), PACER_EMETHOD);

  memset(m32, 'A', 32);
  m32[32] = '\0';
  memset(m33, 'A', 33);
  m33[33] = '\0';
  assert_int_equal(pacer__method_check(m32), 0);
  assert_int_equal(pacer__method_check(m33), PACER_EMETHOD);
}

static void method_idempotent(void **state)
{
  (void)state;
  assert_int_equal(pacer__method_idempotent("GET"), 1);
  assert_int_equal(pacer__method_idempotent("HEAD"), 1);
  assert_int_equal(pacer__method_idempotent("OPTIONS"), 1);
  assert_int_equal(pacer__method_idempotent("TRACE"), 1);
  assert_int_equal(pacer__method_idempotent("PUT"), 1);
  assert_int_equal(pacer__method_idempotent("DELETE"), 1);
  assert_int_equal(pacer__method_idempotent("POST"), 0);
  assert_int_equal(pacer__method_idempotent("PATCH"), 0);
  assert_int_equal(pacer__method_idempotent("CONNECT"), 0);
  /* methods are case-sensitive */
  assert_int_equal(pacer__method_idempotent("get"), 0);
  assert_int_equal(pacer__method_idempotent(NULL), 0);
}

/* ---- headers ------------------------------------------------------------- */

static void header_names(void **state)
{
  char n256[257], n257[258];

  (void)state;
  assert_int_equal(pacer__header_check("Content-Type", "text/plain"), 0);
  assert_int_equal(pacer__header_check("X-A_b.c~1", ""), 0);
  assert_int_equal(pacer__header_check(NULL, "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X Y", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X:Y", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("Host:", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check(" X", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X\r\nY", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X(Y)", "v"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X\"", "v"), PACER_EHEADER);

  memset(n256, 'h', 256);
  n256[256] = '\0';
  memset(n257, 'h', 257);
  n257[257] = '\0';
  assert_int_equal(pacer__header_check(n256, "v"), 0);
  assert_int_equal(pacer__header_check(n257, "v"), PACER_EHEADER);
}

static void header_values(void **state)
{
  size_t max = (size_t)64 * 1024;
  char *v;

  (void)state;
  assert_int_equal(pacer__header_check("X", "a b\tc \"q\" , ; = \x80\xff"), 0);
  assert_int_equal(pacer__header_check("X", NULL), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "a\rb"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "a\nb"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "a\r\nEvil: 1"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "\n"), PACER_EHEADER);

  v = malloc(max + 2);
  assert_non_null(v);
  memset(v, 'v', max + 1);
  v[max] = '\0';
  assert_int_equal(pacer__header_check("X", v), 0);
  v[max] = 'v';
  v[max + 1] = '\0';
  assert_int_equal(pacer__header_check("X", v), PACER_EHEADER);
  free(v);
}

/* Framing, hop-by-hop fields and Host belong to the transport, in any case
 * of spelling; names that only start like them are the caller's. */
static void header_transport_owned_names(void **state)
{
  static const char *const owned[] = {"Content-Length",
                                      "content-length",
                                      "CONTENT-LENGTH",
                                      "Transfer-Encoding",
                                      "transfer-encoding",
                                      "Connection",
                                      "cOnNeCtIoN",
                                      "Keep-Alive",
                                      "Upgrade",
                                      "TE",
                                      "te",
                                      "Trailer",
                                      "Proxy-Connection",
                                      "Host",
                                      "HOST"};
  static const char *const theirs[] = {"Content",
                                       "Content-Type",
                                       "Content-Length2",
                                       "X-Content-Length",
                                       "T",
                                       "TEs",
                                       "Hosts",
                                       "Upgrade-Insecure-Requests",
                                       "Trailers",
                                       "Keep"};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof owned / sizeof owned[0]; i++) {
    assert_int_equal(pacer__header_check(owned[i], "0"), PACER_EHEADER);
    /* An empty value must not slip through either: libcurl reads "Name:"
     * as "remove Name". */
    assert_int_equal(pacer__header_check(owned[i], ""), PACER_EHEADER);
    assert_true(pacer__header_reserved(owned[i], strlen(owned[i])));
  }
  for (i = 0; i < sizeof theirs / sizeof theirs[0]; i++) {
    assert_int_equal(pacer__header_check(theirs[i], "v"), 0);
    assert_false(pacer__header_reserved(theirs[i], strlen(theirs[i])));
  }
  /* By length, without a NUL: "Content-Length: 0" as a stored line. */
  assert_true(pacer__header_reserved("Content-Length: 0", 14));
  assert_false(pacer__header_reserved("Content-Length: 0", 13));
  assert_false(pacer__header_reserved(NULL, 0));
}

/* RFC 9110 field values: no control character but HTAB. */
static void header_value_controls(void **state)
{
  char v[4];
  int c;

  (void)state;
  for (c = 1; c < 0x20; c++) {
    v[0] = 'a';
    v[1] = (char)c;
    v[2] = 'b';
    v[3] = '\0';
    assert_int_equal(pacer__header_check("X", v),
                     c == '\t' ? 0 : PACER_EHEADER);
  }
  assert_int_equal(pacer__header_check("X", "a\x7f"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "\x1b[31m"), PACER_EHEADER);
  assert_int_equal(pacer__header_check("X", "\tvalue\t"), 0);
  assert_int_equal(pacer__header_check("X", "~ \x80\xfe"), 0);
}

/* ---- URLs in logs -------------------------------------------------------- */

static void url_redact_hides_userinfo_and_query_values(void **state)
{
  char out[256];

  (void)state;
  assert_string_equal(
      pacer__url_redact("https://user:pa55@api.example/v1/x?key=s3cret&b=2",
                        out, sizeof out),
      "https://[redacted]@api.example/v1/x?key=[redacted]&b=[redacted]");
  assert_string_equal(
      pacer__url_redact("http://tok3n@h.example:8080/p", out, sizeof out),
      "http://[redacted]@h.example:8080/p");
  assert_string_equal(
      pacer__url_redact("http://:pw@h.example/", out, sizeof out),
      "http://[redacted]@h.example/");
  /* A bare item may be the secret itself; empty items stay empty. */
  assert_string_equal(
      pacer__url_redact("http://h.example/?s3cret&&a=&=v", out, sizeof out),
      "http://h.example/?[redacted]&&a=[redacted]&=[redacted]");
  /* No userinfo, no query: as curl spells it; the fragment is dropped. */
  assert_string_equal(
      pacer__url_redact("http://[::1]:9/a/b#frag", out, sizeof out),
      "http://[::1]:9/a/b");
  assert_string_equal(pacer__url_redact("HTTP://Example.com", out, sizeof out),
                      "http://Example.com/");
  assert_string_equal(pacer__url_redact("not a url", out, sizeof out),
                      "[unparsable URL]");
  assert_string_equal(pacer__url_redact(NULL, out, sizeof out),
                      "[unparsable URL]");
  /* Cut to the buffer, always terminated. */
  assert_string_equal(pacer__url_redact("http://u:p@h.example/?k=v", out, 12),
                      "http://[red");
  out[0] = 'x';
  pacer__url_redact("http://h.example/", out, 0);
  assert_int_equal(out[0], 'x');
}

/* ---- dates and Retry-After ----------------------------------------------- */

static void http_date_three_forms(void **state)
{
  int64_t t = 0;

  (void)state;
  assert_int_equal(pacer__http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
  assert_int_equal(t, RFC_EXAMPLE_S);
  t = 0;
  assert_int_equal(pacer__http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
  assert_int_equal(t, RFC_EXAMPLE_S);
  t = 0;
  assert_int_equal(pacer__http_date("Sun Nov  6 08:49:37 1994", &t), 0);
  assert_int_equal(t, RFC_EXAMPLE_S);
  assert_int_equal(pacer__http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
  assert_int_equal(t, 0);
}

static void http_date_garbage(void **state)
{
  int64_t t = 42;

  (void)state;
  assert_int_equal(pacer__http_date(NULL, &t), -1);
  assert_int_equal(pacer__http_date("", &t), -1);
  assert_int_equal(pacer__http_date("abc", &t), -1);
  assert_int_equal(pacer__http_date("Sun", &t), -1);
  assert_int_equal(pacer__http_date("Sun, 32 Nov 1994 08:49:37 GMT", &t), -1);
  assert_int_equal(pacer__http_date("Sun, 06 Nov 1994 25:49:37 GMT", &t), -1);
  assert_int_equal(t, 42); /* untouched on failure */
}

static void retry_after_seconds(void **state)
{
  (void)state;
  assert_int_equal(pacer__retry_after_ns("120", 0), 120 * NS);
  assert_int_equal(pacer__retry_after_ns("  7 ", 0), 7 * NS);
  assert_int_equal(pacer__retry_after_ns("\t3\t", 0), 3 * NS);
  assert_int_equal(pacer__retry_after_ns("0", 0), 0);
  assert_int_equal(pacer__retry_after_ns("007", 0), 7 * NS);
  /* seconds do not depend on the wall clock */
  assert_int_equal(pacer__retry_after_ns("5", INT64_C(1700000000) * NS),
                   5 * NS);
}

static void retry_after_invalid(void **state)
{
  (void)state;
  assert_int_equal(pacer__retry_after_ns(NULL, 0), -1);
  assert_int_equal(pacer__retry_after_ns("", 0), -1);
  assert_int_equal(pacer__retry_after_ns("   ", 0), -1);
  assert_int_equal(pacer__retry_after_ns("-1", 0), -1);
  assert_int_equal(pacer__retry_after_ns("+1", 0), -1);
  assert_int_equal(pacer__retry_after_ns("1.5", 0), -1);
  assert_int_equal(pacer__retry_after_ns("abc", 0), -1);
  assert_int_equal(pacer__retry_after_ns("1 2", 0), -1);
  assert_int_equal(pacer__retry_after_ns("12s", 0), -1);
  assert_int_equal(pacer__retry_after_ns("0x10", 0), -1);
  assert_int_equal(pacer__retry_after_ns("1e3", 0), -1);
}

static void retry_after_saturates(void **state)
{
  (void)state;
  assert_int_equal(pacer__retry_after_ns("99999999999999999999", 0), INT64_MAX);
  assert_int_equal(
      pacer__retry_after_ns("999999999999999999999999999999999999999", 0),
      INT64_MAX);
  /* the largest whole second count that fits in ns is exact */
  assert_int_equal(pacer__retry_after_ns("9223372036", 0),
                   INT64_C(9223372036) * NS);
  assert_int_equal(pacer__retry_after_ns("9223372037", 0), INT64_MAX);
}

static void retry_after_date(void **state)
{
  int64_t date_ns = RFC_EXAMPLE_S * NS;

  (void)state;
  /* 30 s before the date, the delay is 30 s */
  assert_int_equal(
      pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT", date_ns - 30 * NS),
      30 * NS);
  /* sub-second wall time is kept, the date is whole seconds */
  assert_int_equal(pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT",
                                         date_ns - 30 * NS + 250000000),
                   30 * NS - 250000000);
  assert_int_equal(
      pacer__retry_after_ns("  Sunday, 06-Nov-94 08:49:37 GMT ", date_ns - NS),
      NS);
  assert_int_equal(
      pacer__retry_after_ns("Sun Nov  6 08:49:37 1994", date_ns - 2 * NS),
      2 * NS);
}

static void retry_after_date_past(void **state)
{
  int64_t date_ns = RFC_EXAMPLE_S * NS;

  (void)state;
  assert_int_equal(
      pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT", date_ns), 0);
  assert_int_equal(
      pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT", date_ns + 1), 0);
  assert_int_equal(pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT",
                                         INT64_C(1700000000) * NS),
                   0);
  assert_int_equal(
      pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MAX), 0);
}

static void retry_after_date_extremes(void **state)
{
  (void)state;
  /* beyond 2262 a date no longer fits in int64 ns: saturate, no overflow */
  assert_int_equal(pacer__retry_after_ns("Fri, 31 Dec 9999 23:59:59 GMT", 0),
                   INT64_MAX);
  /* a negative wall clock cannot overflow the difference either */
  assert_int_equal(
      pacer__retry_after_ns("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN),
      INT64_MAX);
  assert_int_equal(pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT", -NS),
                   RFC_EXAMPLE_S * NS + NS);
  /* too long to be a date */
  assert_int_equal(pacer__retry_after_ns("Sun, 06 Nov 1994 08:49:37 GMT "
                                         "................................"
                                         "................................",
                                         0),
                   -1);
}

/* The public check is the one submit makes. */
static void public_header_check(void **state)
{
  (void)state;
  assert_int_equal(pacer_header_check("X-Ok", "v"), 0);
  assert_int_equal(pacer_header_check("X-Ok", ""), 0);
  assert_int_equal(pacer_header_check("X(y", "v"), PACER_EHEADER);
  assert_int_equal(pacer_header_check("connection", "close"), PACER_EHEADER);
  assert_int_equal(pacer_header_check("X-A", "a\x7f"), PACER_EHEADER);
  assert_int_equal(pacer_header_check(NULL, "v"), PACER_EHEADER);
}

/* An international host is checked and keyed as the punycode name libcurl
 * contacts; one it cannot convert is refused at submit. libcurl converts in
 * the process's locale: a UTF-8 one converts, "C" cannot. */
static void url_idn_host_is_keyed_as_punycode(void **state)
{
  char host[256], host2[256];

  (void)state;
  assert_non_null(setlocale(LC_CTYPE, "C"));
  assert_int_equal(pacer__url_check("http://b\xc3\xbc"
                                    "cher.example/",
                                    host, sizeof host),
                   PACER_EURL);
  if (!setlocale(LC_CTYPE, "C.UTF-8")) {
    fprintf(stderr, "no C.UTF-8 locale: the conversion is not tried\n");
    return;
  }
  assert_int_equal(pacer__url_check("http://b\xc3\xbc"
                                    "cher.example:8080/x",
                                    host, sizeof host),
                   0);
  assert_string_equal(host, "xn--bcher-kva.example");
  assert_int_equal(
      pacer__url_check("http://XN--BCHER-KVA.example/", host2, sizeof host2),
      0);
  assert_string_equal(host2, host);
  /* Bytes that are not UTF-8, and a label IDNA refuses. */
  assert_int_equal(
      pacer__url_check("http://\xff\xfe.example/", host, sizeof host),
      PACER_EURL);
  assert_int_equal(pacer__url_check("http://a\xe2\x80\xa8"
                                    "b.example/",
                                    host, sizeof host),
                   PACER_EURL);
  setlocale(LC_CTYPE, "C");
}

/* URLs of the plain shape are checked without libcurl: on each of these,
 * the answer and the host must be libcurl's own. The list is what a hand
 * check could get wrong: numeric hosts libcurl rewrites, ports at and past
 * the edge, characters either side of the shape, and cut-off escapes. */
static void url_plain_check_agrees_with_libcurl(void **state)
{
  static const char *const urls[] = {
      "http://example.com",
      "http://example.com/",
      "https://Example.COM:443/a/b?c=d&e#f",
      "HTTPS://a-b_c.d.:1/",
      "http://x:65535/",
      "http://x:65536/",
      "http://x:0/",
      "http://x:00080/",
      "http://x:/",
      "http://x:8a/",
      "http://x.y?q",
      "http://x#f",
      "http://1.2.3.4/",
      "http://255.255.255.255:80/",
      "http://256.1.1.1/",
      "http://127.1/",
      "http://127.0.0.01/",
      "http://0x7f.0.0.1/",
      "http://2130706433/",
      "http://1.2.3.4.5/",
      "http://1.2.3/",
      "http://1e3.example/",
      "http://0/",
      "http://-x/",
      "http://.x/",
      "http://x/a b",
      "http://x/a\tb",
      "http://x/a\x7f",
      "http://x/\xc3\xa9",
      "http://x/%",
      "http://x/%4",
      "http://x/%4g",
      "http://x/%41%2f",
      "http://x/a\\b",
      "http://x\\y/",
      "http://u@x/",
      "http://x%41/",
      "http://[::1]/",
      "http:/x/",
      "http:///x/",
      "httpss://x/",
      "htt://x/",
      "ftp://x/",
      "http://x/../../a/./b",
      "http://x/{}|^`\"<>",
  };
  char h1[300], h2[300];

  (void)state;
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
    int r1 = pacer__url_check(urls[i], h1, sizeof h1);
    int r2 = pacer__url_check_curl(urls[i], h2, sizeof h2);

    if (r1 != r2 || (r1 == 0 && strcmp(h1, h2) != 0))
      fail_msg("%s: %d %s, libcurl %d %s", urls[i], r1, r1 ? "" : h1, r2,
               r2 ? "" : h2);
  }
  /* A numeric host is keyed, and later guarded, as the address libcurl
   * will connect to. */
  assert_int_equal(pacer__url_check("http://127.1/", h1, sizeof h1), 0);
  assert_string_equal(h1, "127.0.0.1");
  assert_int_equal(pacer__url_check("http://0x7f000001/", h1, sizeof h1), 0);
  assert_string_equal(h1, "127.0.0.1");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(public_header_check),
      cmocka_unit_test(url_idn_host_is_keyed_as_punycode),
      cmocka_unit_test(url_accepts_http_and_https),
      cmocka_unit_test(url_plain_check_agrees_with_libcurl),
      cmocka_unit_test(url_scheme_and_host_case),
      cmocka_unit_test(url_ipv6_keeps_brackets),
      cmocka_unit_test(url_invalid),
      cmocka_unit_test(url_other_schemes),
      cmocka_unit_test(url_host_buffer_too_small),
      cmocka_unit_test(method_tokens),
      cmocka_unit_test(method_idempotent),
      cmocka_unit_test(header_names),
      cmocka_unit_test(header_values),
      cmocka_unit_test(header_transport_owned_names),
      cmocka_unit_test(header_value_controls),
      cmocka_unit_test(url_redact_hides_userinfo_and_query_values),
      cmocka_unit_test(http_date_three_forms),
      cmocka_unit_test(http_date_garbage),
      cmocka_unit_test(retry_after_seconds),
      cmocka_unit_test(retry_after_invalid),
      cmocka_unit_test(retry_after_saturates),
      cmocka_unit_test(retry_after_date),
      cmocka_unit_test(retry_after_date_past),
      cmocka_unit_test(retry_after_date_extremes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
