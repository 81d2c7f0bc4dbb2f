/* SPDX-License-Identifier: MIT */
/* lines.c - reads the job file line by line in large blocks, and lets a
 * signal thread interrupt a wait for input (a pipe that stays silent). */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 65536

int cli_lines_init(cli_lines_t *r, int fd, int wake_fd, size_t max_line)
{
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->wake_fd = wake_fd;
  r->max_line = max_line;
  r->cap = (size_t)BLOCK * 2;
  r->buf = malloc(r->cap);
  return r->buf ? 0 : -1;
}

void cli_lines_free(cli_lines_t *r)
{
  free(r->buf);
  r->buf = NULL;
}

/* Waits until fd has input or wake_fd is readable. 1: input, 0: woken. */
static int wait_input(cli_lines_t *r)
{
  if (r->wake_fd < 0)
    return 1;
  struct pollfd p[2] = {{.fd = r->fd, .events = POLLIN},
                        {.fd = r->wake_fd, .events = POLLIN}};
  for (;;) {
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return 1; /* let read() report it */
    if (p[1].revents)
      return 0;
    return 1;
  }
}

/* Reads more input after buf[end]. 1: got bytes, 0: EOF, CLI_LINE_ERR,
 * CLI_LINE_WOKEN. */
static int fill(cli_lines_t *r)
{
  if (r->start > 0 && r->start == r->end) {
    r->base += r->end;
    r->start = r->end = 0;
  }
  if (r->cap - r->end < BLOCK) {
    if (r->start > 0) {
      memmove(r->buf, r->buf + r->start, r->end - r->start);
      r->base += r->start;
      r->end -= r->start;
      r->start = 0;
    }
    if (r->cap - r->end < BLOCK) {
      char *nb = realloc(r->buf, r->cap * 2);
      if (!nb) {
        errno = ENOMEM;
        return CLI_LINE_ERR;
      }
      r->buf = nb;
      r->cap *= 2;
    }
  }
  if (!wait_input(r))
    return CLI_LINE_WOKEN;
  for (;;) {
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return CLI_LINE_ERR;
    r->end += (size_t)n;
    return n > 0;
  }
}

int cli_lines_next(cli_lines_t *r, char **line, size_t *len)
{
  size_t scanned = r->start;
  for (;;) {
    char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
    if (nl) {
      size_t at = (size_t)(nl - r->buf);
      size_t s = r->start;
      r->start = at + 1;
      if (r->skipping) { /* the end of a line that was too long */
        r->skipping = 0;
        scanned = r->start;
        continue;
      }
      if (at - s > r->max_line) /* too long, though whole in the buffer */
        return CLI_LINE_LONG;
      *line = r->buf + s;
      *len = at - s;
      *nl = 0;
      return CLI_LINE;
    }
    if (r->end - r->start > r->max_line && !r->skipping) {
      r->skipping = 1;
      r->start = r->end;
      return CLI_LINE_LONG;
    }
    if (r->skipping)
      r->start = r->end; /* drop what was read of it */
    scanned = r->end;
    if (r->eof) {
      if (r->end > r->start && !r->skipping) { /* no final newline */
        *line = r->buf + r->start;
        *len = r->end - r->start;
        r->buf[r->end] = 0; /* fill() keeps BLOCK bytes free */
        r->start = r->end;
        return CLI_LINE;
      }
      return CLI_LINE_EOF;
    }
    size_t off = scanned - r->start;
    int rc = fill(r);
    scanned = r->start + off;
    if (rc == 0)
      r->eof = 1;
    else if (rc < 0)
      return rc;
  }
}

int cli_lines_ready(const cli_lines_t *r)
{
  return r->eof || memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}

uint64_t cli_lines_pos(const cli_lines_t *r)
{
  return r->base + r->start;
}
