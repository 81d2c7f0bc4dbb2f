/* SPDX-License-Identifier: MIT */
/* test_cli_lines.c - the line reader (lines.c) over pipes and files.
 *
 * Small inputs fit in the pipe buffer and are written before reading; large
 * ones are written by a thread while the main thread reads. Only the main
 * thread asserts; the writer just writes and records what went wrong. The
 * wake fd is a second pipe; nothing sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BLOCK 65536 /* lines.c reads in blocks of this size */

/* ---- helpers ------------------------------------------------------------ */

static void write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* A pipe whose write end gets text (at most the pipe buffer) and is closed
 * unless keep_open; returns the read end, *wr the write end or -1. */
static int pipe_with(const char *text, size_t len, int keep_open, int *wr)
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  if (len)
    write_all(p[1], text, len);
  if (keep_open) {
    *wr = p[1];
  } else {
    close(p[1]);
    *wr = -1;
  }
  return p[0];
}

/* Reads one line and checks it. */
static void expect_line(cli_lines_t *r, const char *want, size_t want_len)
{
  char *line = NULL;
  size_t len = 0;
  int rc = cli_lines_next(r, &line, &len);
  if (rc != CLI_LINE)
    fail_msg("expected a line of %zu bytes, got code %d", want_len, rc);
  assert_int_equal(len, want_len);
  assert_memory_equal(line, want, want_len);
  assert_int_equal(line[len], 0); /* terminated in place */
}

#define EXPECT_LINE(r, s) expect_line((r), (s), sizeof(s) - 1)

static void expect_code(cli_lines_t *r, int want)
{
  char *line = NULL;
  size_t len = 0;
  assert_int_equal(cli_lines_next(r, &line, &len), want);
}

/* ---- writer thread ------------------------------------------------------ */

typedef struct writer {
  pthread_t thread;
  int fd; /* closed by the writer when done */
  const char *data;
  size_t len;
  size_t chunk; /* bytes per write(); varies if vary */
  int vary;
  int failed_errno; /* 0, or the errno of a failed write */
} writer_t;

static void *writer_main(void *arg)
{
  writer_t *w = arg;
  size_t off = 0, i = 0;
  while (off < w->len) {
    size_t n = w->chunk;
    if (w->vary)
      n = 1 + (i++ * 7919) % w->chunk; /* 1..chunk, irregular */
    if (n > w->len - off)
      n = w->len - off;
    ssize_t k = write(w->fd, w->data + off, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      w->failed_errno = k < 0 ? errno : EIO;
      break;
    }
    off += (size_t)k;
  }
  close(w->fd);
  return NULL;
}

/* Starts a thread writing data to a new pipe; returns the read end. */
static int start_writer(writer_t *w, const char *data, size_t len, size_t chunk,
                        int vary)
{
  int p[2];
  assert_int_equal(pipe(p), 0);
  memset(w, 0, sizeof *w);
  w->fd = p[1];
  w->data = data;
  w->len = len;
  w->chunk = chunk;
  w->vary = vary;
  assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
  return p[0];
}

static void join_writer(writer_t *w)
{
  assert_int_equal(pthread_join(w->thread, NULL), 0);
  assert_int_equal(w->failed_errno, 0);
}

/* ---- generated inputs ---------------------------------------------------- */

/* nlines lines of varied lengths (0..maxlen), each ending in "\n" unless
 * the last and !final_nl. Line i holds its number, then filler. */
typedef struct text {
  char *data;
  size_t len;
  size_t nlines;
  size_t *starts, *lens;
} text_t;

static void make_text(text_t *t, size_t nlines, size_t maxlen, int final_nl)
{
  memset(t, 0, sizeof *t);
  t->nlines = nlines;
  t->starts = calloc(nlines, sizeof *t->starts);
  t->lens = calloc(nlines, sizeof *t->lens);
  assert_non_null(t->starts);
  assert_non_null(t->lens);
  size_t cap = nlines * (maxlen + 1) + 1;
  t->data = malloc(cap);
  assert_non_null(t->data);
  for (size_t i = 0; i < nlines; i++) {
    size_t n = (i * 2654435761u) % (maxlen + 1);
    if (i == nlines - 1 && !final_nl && n == 0)
      n = 1; /* a last line without newline must have bytes */
    t->starts[i] = t->len;
    t->lens[i] = n;
    char tag[24];
    int tl = snprintf(tag, sizeof tag, "%zu:", i);
    for (size_t j = 0; j < n; j++)
      t->data[t->len + j] =
          j < (size_t)tl ? tag[j] : (char)('a' + (i + j) % 26);
    t->len += n;
    if (i < nlines - 1 || final_nl)
      t->data[t->len++] = '\n';
  }
}

static void free_text(text_t *t)
{
  free(t->data);
  free(t->starts);
  free(t->lens);
}

/* Reads every line from r and compares with t, then EOF. */
static void expect_text(cli_lines_t *r, const text_t *t)
{
  for (size_t i = 0; i < t->nlines; i++) {
    char *line = NULL;
    size_t len = 0;
    int rc = cli_lines_next(r, &line, &len);
    if (rc != CLI_LINE)
      fail_msg("line %zu: code %d", i, rc);
    if (len != t->lens[i] || memcmp(line, t->data + t->starts[i], len))
      fail_msg("line %zu differs: %zu bytes, want %zu", i, len, t->lens[i]);
  }
  expect_code(r, CLI_LINE_EOF);
}

/* ---- tests -------------------------------------------------------------- */

static void simple_lines(void **state)
{
  (void)state;
  static const char in[] = "a\nbb\n\n\nccc\n{\"url\": \"x\"}\nlast";
  int wr;
  int fd = pipe_with(in, sizeof in - 1, 0, &wr);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, -1, 1024), 0);
  EXPECT_LINE(&r, "a");
  EXPECT_LINE(&r, "bb");
  EXPECT_LINE(&r, ""); /* empty lines are returned, length 0 */
  EXPECT_LINE(&r, "");
  EXPECT_LINE(&r, "ccc");
  EXPECT_LINE(&r, "{\"url\": \"x\"}");
  EXPECT_LINE(&r, "last"); /* no final newline */
  expect_code(&r, CLI_LINE_EOF);
  expect_code(&r, CLI_LINE_EOF);
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  cli_lines_free(&r); /* twice is harmless */
  close(fd);
}

static void crlf_keeps_cr(void **state)
{
  (void)state;
  static const char in[] = "x\r\ny\r\n\r\nz\r";
  int wr;
  int fd = pipe_with(in, sizeof in - 1, 0, &wr);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, -1, 1024), 0);
  EXPECT_LINE(&r, "x\r");
  EXPECT_LINE(&r, "y\r");
  EXPECT_LINE(&r, "\r");
  EXPECT_LINE(&r, "z\r");
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  close(fd);
}

static void empty_input(void **state)
{
  (void)state;
  int wr;
  int fd = pipe_with("", 0, 0, &wr);
  int wake[2];
  assert_int_equal(pipe(wake), 0);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, wake[0], 1024), 0);
  for (int i = 0; i < 4; i++)
    expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  close(fd);
  close(wake[0]);
  close(wake[1]);

  /* Only a newline: one empty line, then EOF. */
  fd = pipe_with("\n", 1, 0, &wr);
  assert_int_equal(cli_lines_init(&r, fd, -1, 1024), 0);
  EXPECT_LINE(&r, "");
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  close(fd);
}

static void many_small_writes(void **state)
{
  (void)state;
  text_t t;
  make_text(&t, 2000, 300, 1);
  writer_t w;
  int fd = start_writer(&w, t.data, t.len, 13, 1); /* 1..13 bytes a write */
  int wake[2];
  assert_int_equal(pipe(wake), 0);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, wake[0], 4096), 0);
  expect_text(&r, &t);
  cli_lines_free(&r);
  join_writer(&w);
  close(fd);
  close(wake[0]);
  close(wake[1]);
  free_text(&t);
}

static void large_input_across_blocks(void **state)
{
  (void)state;
  /* About 2 MiB of lines up to 5000 bytes: many block boundaries, lines
   * straddling them, the buffer compacted again and again. */
  text_t t;
  make_text(&t, 800, 5000, 0);
  assert_true(t.len > 16 * BLOCK);
  writer_t w;
  int fd = start_writer(&w, t.data, t.len, 4096, 1);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, -1, 1 << 20), 0);
  expect_text(&r, &t);
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  join_writer(&w);
  close(fd);
  free_text(&t);
}

/* Lines placed exactly at the block edges, from a regular file (whose reads
 * fill the buffer exactly, so the edges are where this test puts them). */
static void exact_block_edges(void **state)
{
  (void)state;
  size_t la = BLOCK - 1; /* newline at BLOCK - 1: the next starts at BLOCK */
  size_t lb = BLOCK - 1; /* newline at 2 * BLOCK - 1: end of the first read */
  size_t lc = BLOCK + 4321; /* longer than a block, across the next reads */
  size_t ld = 3 * BLOCK;    /* no final newline, longer than the buffer was */
  size_t total = la + lb + lc + ld + 3;
  char *in = malloc(total);
  assert_non_null(in);
  size_t off = 0;
  memset(in + off, 'a', la);
  off += la;
  in[off++] = '\n';
  memset(in + off, 'b', lb);
  off += lb;
  in[off++] = '\n';
  memset(in + off, 'c', lc);
  off += lc;
  in[off++] = '\n';
  memset(in + off, 'd', ld);
  off += ld;
  assert_int_equal(off, total);

  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(fwrite(in, 1, total, f), total);
  assert_int_equal(fflush(f), 0);
  assert_int_equal(lseek(fileno(f), 0, SEEK_SET), 0);

  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fileno(f), -1, 1 << 20), 0);
  char *line;
  size_t len;
  const struct {
    char c;
    size_t n;
  } want[] = {{'a', la}, {'b', lb}, {'c', lc}, {'d', ld}};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(cli_lines_next(&r, &line, &len), CLI_LINE);
    assert_int_equal(len, want[i].n);
    assert_int_equal(line[0], want[i].c);
    assert_int_equal(line[len - 1], want[i].c);
    assert_int_equal(line[len], 0);
    assert_null(memchr(line, '\n', len));
  }
  expect_code(&r, CLI_LINE_EOF);
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  fclose(f);
  free(in);
}

static void long_line_skipped(void **state)
{
  (void)state;
  /* Everything arrives at once: the long line's newline is already in the
   * buffer when it is found. */
  char in[512];
  size_t n = 0;
  n += (size_t)sprintf(in + n, "short\n");
  memset(in + n, 'x', 40);
  n += 40;
  n += (size_t)sprintf(in + n, "\nafter\n");
  memset(in + n, 'y', 16); /* exactly max_line: fine */
  n += 16;
  in[n++] = '\n';
  memset(in + n, 'z', 17); /* one over */
  n += 17;
  in[n++] = '\n';
  n += (size_t)sprintf(in + n, "again\n");
  memset(in + n, 'w', 40); /* a long last line without newline */
  n += 40;
  int wr;
  int fd = pipe_with(in, n, 0, &wr);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, -1, 16), 0);
  EXPECT_LINE(&r, "short");
  expect_code(&r, CLI_LINE_LONG);
  EXPECT_LINE(&r, "after");
  EXPECT_LINE(&r, "yyyyyyyyyyyyyyyy");
  expect_code(&r, CLI_LINE_LONG);
  EXPECT_LINE(&r, "again");
  expect_code(&r, CLI_LINE_LONG);
  expect_code(&r, CLI_LINE_EOF);
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  close(fd);
}

static void long_line_across_writes(void **state)
{
  (void)state;
  /* A line of 300000 bytes over many writes and many reads: reported once,
   * its bytes dropped as they come, the next line read normally. */
  size_t longn = 300000;
  size_t total = longn + 64;
  char *in = malloc(total);
  assert_non_null(in);
  size_t n = (size_t)sprintf(in, "first\n");
  memset(in + n, 'L', longn);
  n += longn;
  n += (size_t)sprintf(in + n, "\nnext\n\nend");
  writer_t w;
  int fd = start_writer(&w, in, n, 1000, 1);
  int wake[2];
  assert_int_equal(pipe(wake), 0);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, wake[0], 100), 0);
  EXPECT_LINE(&r, "first");
  expect_code(&r, CLI_LINE_LONG);
  EXPECT_LINE(&r, "next");
  EXPECT_LINE(&r, "");
  EXPECT_LINE(&r, "end");
  expect_code(&r, CLI_LINE_EOF);
  /* The skipped bytes were not kept: the buffer stayed small. */
  assert_true(r.cap <= 4 * BLOCK);
  cli_lines_free(&r);
  join_writer(&w);
  close(fd);
  close(wake[0]);
  close(wake[1]);
  free(in);
}

typedef struct waker {
  pthread_t thread;
  int fd;
  int failed_errno;
} waker_t;

static void *waker_main(void *arg)
{
  waker_t *k = arg;
  char c = 'w';
  if (write(k->fd, &c, 1) != 1)
    k->failed_errno = errno ? errno : EIO;
  return NULL;
}

static void wake_interrupts_wait(void **state)
{
  (void)state;
  int wr;
  int fd = pipe_with("", 0, 1, &wr); /* input stays open and silent */
  int wake[2];
  assert_int_equal(pipe(wake), 0);
  cli_lines_t r;
  assert_int_equal(cli_lines_init(&r, fd, wake[0], 1024), 0);

  /* Woken by another thread while (or before) it waits. */
  waker_t k = {.fd = wake[1]};
  assert_int_equal(pthread_create(&k.thread, NULL, waker_main, &k), 0);
  expect_code(&r, CLI_LINE_WOKEN);
  assert_int_equal(pthread_join(k.thread, NULL), 0);
  assert_int_equal(k.failed_errno, 0);
  /* The wake fd is level-triggered: still readable, still woken. */
  expect_code(&r, CLI_LINE_WOKEN);

  /* Drained, the reader goes on where it was, a partial line included. */
  char c;
  assert_int_equal(read(wake[0], &c, 1), 1);
  write_all(wr, "par", 3);
  write_all(wr, "tial\nrest", 9);
  EXPECT_LINE(&r, "partial");
  write_all(wake[1], "w", 1);
  expect_code(&r, CLI_LINE_WOKEN); /* in the middle of "rest" */
  assert_int_equal(read(wake[0], &c, 1), 1);
  write_all(wr, "\n", 1);
  EXPECT_LINE(&r, "rest");
  close(wr);
  expect_code(&r, CLI_LINE_EOF);
  cli_lines_free(&r);
  close(fd);
  close(wake[0]);
  close(wake[1]);
}

static void read_error(void **state)
{
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  cli_lines_t r;
  /* The write end of a pipe cannot be read. */
  assert_int_equal(cli_lines_init(&r, p[1], -1, 1024), 0);
  char *line;
  size_t len;
  errno = 0;
  assert_int_equal(cli_lines_next(&r, &line, &len), CLI_LINE_ERR);
  assert_int_equal(errno, EBADF);
  cli_lines_free(&r);
  close(p[0]);
  close(p[1]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(simple_lines),
      cmocka_unit_test(crlf_keeps_cr),
      cmocka_unit_test(empty_input),
      cmocka_unit_test(many_small_writes),
      cmocka_unit_test(large_input_across_blocks),
      cmocka_unit_test(exact_block_edges),
      cmocka_unit_test(long_line_skipped),
      cmocka_unit_test(long_line_across_writes),
      cmocka_unit_test(wake_interrupts_wait),
      cmocka_unit_test(read_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
