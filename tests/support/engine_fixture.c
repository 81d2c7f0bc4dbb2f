/* SPDX-License-Identifier: MIT */
/* engine_fixture.c - the dispatcher made over simulated time and a fake
 * transport, so engine tests need no sleeps and no network. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine_fixture.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void eng_prepare(eng_t *e, const eng_opts_t *o)
{
  static const eng_opts_t defaults = {0, 0, NULL, NULL};
  if (!o)
    o = &defaults;
  memset(e, 0, sizeof *e);
  fake_clock_init(&e->clk, o->start_ns ? o->start_ns : 1000 * PACER__NS_PER_S);
  e->tx = fake_tx_new(o->real_clock ? NULL : &e->clk, o->reply, o->reply_user);
  e->real_clock = o->real_clock;
}

int eng_open(eng_t *e, const pacer_config_t *cfg)
{
  pacer__clock_t ci =
      e->real_clock ? pacer__clock_real : fake_clock_iface(&e->clk);
  pacer__transport_t ti = fake_tx_iface(e->tx);
  int rc = pacer__new_with(cfg, &ci, &ti, &e->p);
  if (rc)
    e->p = NULL;
  return rc;
}

int eng_try(eng_t *e, const pacer_config_t *cfg, const eng_opts_t *o)
{
  eng_prepare(e, o);
  int rc = eng_open(e, cfg);
  if (rc)
    eng_free(e);
  return rc;
}

void eng_new(eng_t *e, const pacer_config_t *cfg, const eng_opts_t *o)
{
  assert_int_equal(eng_try(e, cfg, o), 0);
}

void eng_free(eng_t *e)
{
  pacer_free(e->p);
  e->p = NULL;
  fake_tx_free(e->tx);
  e->tx = NULL;
  fake_clock_destroy(&e->clk);
}

void scratch_make(char *dir, size_t cap)
{
  assert_true(cap >= 64);
  snprintf(dir, cap, "/tmp/pacer-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
}

int scratch_remove(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  if (d)
    closedir(d);
  return rmdir(dir);
}
