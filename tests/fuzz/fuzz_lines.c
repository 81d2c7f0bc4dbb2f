/* SPDX-License-Identifier: MIT */
/* fuzz_lines.c - the job file's line reader (src/cli/lines.c) against a
 * plain model of what it must return.
 *
 * Input: 1 byte of line limit (0..255 bytes, or 64 KiB and more when its top
 * bit is set), 1 byte of repeats (the rest is written 1 + n times, so lines
 * cross the reader's 64 KiB blocks), then the file's bytes.
 * Properties: the reader returns exactly the model's lines (split at '\n',
 * the last one may lack it; a line over the limit is one CLI_LINE_LONG) and
 * cli_lines_pos() is the offset just after each line. */
#include "cli.h"
#include "fuzz.h"

#include <unistd.h>

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  char path[64];
  const char *dir = fuzz_tmpdir();
  snprintf(path, sizeof path, "%s/pacer-fuzz-lines-XXXXXX", dir);
  fd = mkstemp(path);
  if (fd < 0)
    perror("fuzz_lines: mkstemp");
  else
    unlink(path); /* gone when the process ends */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2 || fd < 0)
    return 0;
  size_t max_line =
      data[0] & 0x80 ? 65536 + (size_t)(data[0] & 0x7f) * 977 : data[0];
  size_t reps = 1 + (size_t)data[1];
  const uint8_t *body = data + 2;
  size_t n = size - 2, total = n * reps;
  uint8_t *file = malloc(total ? total : 1);
  if (!file)
    return 0;
  for (size_t i = 0; i < reps; i++)
    if (n)
      memcpy(file + i * n, body, n);
  if (ftruncate(fd, 0) || pwrite(fd, file, total, 0) != (ssize_t)total ||
      lseek(fd, 0, SEEK_SET) != 0) {
    free(file);
    return 0;
  }

  cli_lines_t r;
  if (cli_lines_init(&r, fd, -1, max_line)) {
    free(file);
    return 0;
  }
  size_t at = 0; /* the model's position in file */
  for (;;) {
    char *line;
    size_t len;
    int rc = cli_lines_next(&r, &line, &len);
    if (at == total) {
      FUZZ_CHECK(rc == CLI_LINE_EOF);
      break;
    }
    const uint8_t *nl = memchr(file + at, '\n', total - at);
    size_t want = nl ? (size_t)(nl - (file + at)) : total - at;
    size_t next = nl ? at + want + 1 : total;
    if (want > max_line) {
      FUZZ_CHECK(rc == CLI_LINE_LONG);
    } else {
      FUZZ_CHECK(rc == CLI_LINE);
      FUZZ_CHECK(len == want);
      FUZZ_CHECK(len == 0 || !memcmp(line, file + at, len));
      FUZZ_CHECK(line[len] == '\0');
      FUZZ_CHECK(cli_lines_pos(&r) == next);
    }
    at = next;
  }
  cli_lines_free(&r);
  free(file);
  return 0;
}
