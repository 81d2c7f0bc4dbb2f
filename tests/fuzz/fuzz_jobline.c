/* SPDX-License-Identifier: MIT */
/* fuzz_jobline.c - one line of a job file (src/cli/jobline.c), as the
 * command reads it, then the result line it would write for that job.
 *
 * Properties: parsing never reads past the line; a job that fails to parse
 * still gets a result line, and every result line is one JSON object. */
#include "cli.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Exactly the line's bytes: a read past them is caught. */
  char *line = malloc(size ? size : 1);
  if (!line)
    return 0;
  if (size)
    memcpy(line, data, size);
  cli_opts_t o;
  cli_opts_init(&o);
  cli_job_t job;
  memset(&job, 0, sizeof job);
  char err[256];
  err[0] = '\0';
  int rc = cli_job_parse(&job, line, size, 7, &o, err, sizeof err);
  FUZZ_CHECK(rc == 0 || rc == -1);
  FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);

  char *out = rc == 0 ? cli_result_line(job.id, 7, NULL, PACER_ECANCELED,
                                        "cancelled", 0)
                      : cli_result_line(job.id, 7, NULL, PACER_EINVAL, err, 0);
  if (out) {
    json_error_t je;
    json_t *back = json_loads(out, 0, &je);
    FUZZ_CHECK(json_is_object(back));
    json_decref(back);
    free(out);
  }
  cli_job_clear(&job, 0);
  cli_opts_free(&o);
  free(line);
  return 0;
}
