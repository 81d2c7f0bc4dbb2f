/* SPDX-License-Identifier: MIT */
/* bomb.c - gzip bodies that inflate to N zero bytes, built once and cached.
 *
 * Deflate squeezes a run of zeros about 1000:1, so 1 GiB becomes about 1 MiB
 * on the wire: enough to show that a client caps what it inflates. Each size
 * is built on first use, under the lock (a second request for it waits), and
 * kept until bomb_cache_free, so responses may point at it without copying.
 * At most MAX_BOMBS distinct sizes are kept. */
#include "mock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define MAX_BOMBS 16

typedef struct bomb {
  uint64_t n;
  unsigned char *data;
  size_t len;
} bomb_t;

struct bomb_cache {
  pthread_mutex_t mu;
  bomb_t bombs[MAX_BOMBS];
  size_t count;
};

bomb_cache_t *bomb_cache_new(void)
{
  bomb_cache_t *bc = calloc(1, sizeof *bc);
  if (bc && pthread_mutex_init(&bc->mu, NULL) != 0) {
    free(bc);
    return NULL;
  }
  return bc;
}

void bomb_cache_free(bomb_cache_t *bc)
{
  if (bc == NULL)
    return;
  for (size_t i = 0; i < bc->count; i++)
    free(bc->bombs[i].data);
  pthread_mutex_destroy(&bc->mu);
  free(bc);
}

static int build(uint64_t n, bomb_t *b)
{
  static const unsigned char zeros[1 << 16];
  z_stream z;
  memset(&z, 0, sizeof z);
  /* windowBits 15 + 16: a gzip wrapper, not zlib's. */
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  size_t cap = (size_t)(n / 512) + 4096, len = 0;
  unsigned char *out = malloc(cap);
  uint64_t left = n;
  int rc = Z_OK;
  while (out != NULL && rc != Z_STREAM_END) {
    if (z.avail_in == 0 && left > 0) {
      size_t chunk = left < sizeof zeros ? (size_t)left : sizeof zeros;
      z.next_in = (unsigned char *)zeros; /* zlib does not write it */
      z.avail_in = (uInt)chunk;
      left -= chunk;
    }
    if (len == cap) {
      unsigned char *grown = realloc(out, cap * 2);
      if (grown == NULL) {
        free(out);
        out = NULL;
        break;
      }
      out = grown;
      cap *= 2;
    }
    z.next_out = out + len;
    z.avail_out = (uInt)(cap - len > (1u << 30) ? (1u << 30) : cap - len);
    uInt before = z.avail_out;
    rc = deflate(&z, left == 0 && z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
    len += before - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      free(out);
      out = NULL;
    }
  }
  deflateEnd(&z);
  if (out == NULL)
    return -1;
  b->n = n;
  b->data = out;
  b->len = len;
  return 0;
}

int bomb_get(bomb_cache_t *bc, uint64_t n, const unsigned char **data,
             size_t *len, char *err, size_t errlen)
{
  int rc = 0;
  pthread_mutex_lock(&bc->mu);
  size_t i = 0;
  while (i < bc->count && bc->bombs[i].n != n)
    i++;
  if (i == bc->count) {
    if (bc->count == MAX_BOMBS) {
      snprintf(err, errlen, "gzip_bomb: at most %d distinct sizes", MAX_BOMBS);
      rc = -1;
    } else if (build(n, &bc->bombs[i]) != 0) {
      snprintf(err, errlen, "gzip_bomb: out of memory");
      rc = -1;
    } else {
      bc->count++;
    }
  }
  if (rc == 0) {
    *data = bc->bombs[i].data;
    *len = bc->bombs[i].len;
  }
  pthread_mutex_unlock(&bc->mu);
  return rc;
}
