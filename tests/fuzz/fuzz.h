/* SPDX-License-Identifier: MIT */
/* fuzz.h - what the fuzz targets share: the libFuzzer entry point and a
 * reader that takes numbers and strings from the input in turn, so one input
 * drives several parameters and every byte sequence means something.
 *
 * A target checks a property with FUZZ_CHECK: a false one is reported and
 * trapped, which libFuzzer records as a crash with its input. */
#ifndef PACER_FUZZ_H
#define PACER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,      \
              #cond);                                                          \
      __builtin_trap();                                                        \
    }                                                                          \
  } while (0)

/* 1 when PACER_FUZZ_STRICT=1 asks for the properties a known bug breaks
 * too: a crash-* reproducer of the corpus then stops the target. */
static inline int fuzz_strict(void)
{
  const char *v = getenv("PACER_FUZZ_STRICT");
  return v && !strcmp(v, "1");
}

/* Where a target keeps its scratch files: $TMPDIR (scripts/fuzz gives
 * each run its own and removes it, as libFuzzer may end the process without
 * running atexit handlers), else /dev/shm, else /tmp. */
static inline const char *fuzz_tmpdir(void)
{
  const char *t = getenv("TMPDIR");
  if (t && *t && strlen(t) < 32)
    return t;
  return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

typedef struct fuzz_in {
  const uint8_t *p;
  size_t left;
} fuzz_in_t;

/* The next byte, 0 once the input is used up. */
static inline uint8_t fuzz_u8(fuzz_in_t *in)
{
  if (!in->left)
    return 0;
  in->left--;
  return *in->p++;
}

static inline uint32_t fuzz_u32(fuzz_in_t *in)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 8 | fuzz_u8(in);
  return v;
}

static inline uint64_t fuzz_u64(fuzz_in_t *in)
{
  uint64_t hi = fuzz_u32(in);
  return hi << 32 | fuzz_u32(in);
}

/* The bytes up to the next NUL (or the end), as a new NUL-terminated string
 * of exactly that size, so a read past it is caught. *len gets its length
 * when len is not NULL. Free with free(); NULL only on out of memory. */
static inline char *fuzz_str(fuzz_in_t *in, size_t *len)
{
  const uint8_t *nul = in->left ? memchr(in->p, 0, in->left) : NULL;
  size_t n = nul ? (size_t)(nul - in->p) : in->left;
  char *s = malloc(n + 1);
  if (s) {
    if (n)
      memcpy(s, in->p, n);
    s[n] = '\0';
  }
  in->p += n;
  in->left -= n;
  if (nul) {
    in->p++;
    in->left--;
  }
  if (len)
    *len = n;
  return s;
}

#endif
