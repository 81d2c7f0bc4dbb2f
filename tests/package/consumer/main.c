/* SPDX-License-Identifier: MIT */
/* consumer/main.c - a program built against the installed libpacer, the way a
 * user's would be: one job to a closed loopback port must end in exactly one
 * callback with a transport error. */
#include <pacer/pacer.h>
#include <stdio.h>

static int calls, error;

static void done(const pacer_result_t *res, void *user)
{
  (void)user;
  calls++;
  error = res->error;
}

int main(void)
{
  pacer_config_t cfg;
  pacer_config_init(&cfg);
  cfg.max_attempts = 1;
  pacer_t *p;
  int rc = pacer_new(&cfg, &p);
  if (rc) {
    fprintf(stderr, "pacer_new: %s\n", pacer_strerror(rc));
    return 1;
  }
  pacer_request_t req;
  pacer_request_init(&req);
  req.url = "http://127.0.0.1:1/"; /* nothing listens on port 1 */
  rc = pacer_submit(p, &req, done, NULL, NULL);
  if (rc == 0)
    rc = pacer_drain(p, 30000);
  pacer_free(p);
  printf("pacer %s: submit/drain %s, %d callback, %s\n", pacer_version(),
         pacer_err_name(rc), calls, pacer_err_name(error));
  return rc == 0 && calls == 1 && error == PACER_ETRANSPORT ? 0 : 1;
}
