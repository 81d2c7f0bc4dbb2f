#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of the retry rule as the command tells it (issue #18,
# part 1), against a pacer-mock on a free loopback port: a POST answered
# 503 once is not retried by default, its line says "not_retried" and
# "ok": false, and the summary counts it and says how to change it; with
# --retry-unsafe, with a job's "retry_unsafe": true, or with
# --idempotency-keys it is retried and succeeds, and with the keys the
# server saw the same Idempotency-Key on both attempts (and again on a
# second run of the same file); --ok-status 404 makes a 404 "ok": true and
# a success; --retry-on 503 leaves a 429 not retried while a 503 still
# is; with --spool the spool's key, or the command's with
# --idempotency-keys. 9 runs of a few jobs each, about 1 s; loopback only.
# Usage: test_retry_rules.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"

need_jq

start_mock

# Every run: no adaptation (a bare 503 would slow its key), a short
# backoff, no retry budget, so each retry is the rule's doing alone.
send() {
  "$PACER" send --adapt off --backoff-base 10 --retry-budget off "$@"
}
# line JOB FIELD: the field of job JOB's result line in out.jsonl.
line() { jq -c "select(.id == \"$1\") | $2" "$T/out.jsonl"; }
# keys JOB: the Idempotency-Key of each request of job JOB the server saw.
keys() {
  curl -s "$BASE/__requests" |
    jq -r --arg j "$1" '[.requests[] | select(.query.job == $j) | .headers["Idempotency-Key"] // "none"] | join(" ")'
}
post() { # post ID [EXTRA JSON]: a POST whose first arrival gets a 503
  printf '{"id": "%s", "method": "POST", "url": "%s/send?job=%s&fail_first=1&fail_status=503", "body": "hi %s"%s}\n' \
    "$1" "$BASE" "$1" "$1" "${2:-}"
}

# ---- the default: not retried, and said ----
post p1 >"$T/jobs.jsonl"
printf '{"id": "g1", "url": "%s/get?job=g1&fail_first=1&fail_status=503"}\n' "$BASE" >>"$T/jobs.jsonl"
send "$T/jobs.jsonl" --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "a POST that ended as 503 fails the run (exit 1, got $rc)" [ "$rc" -eq 1 ]
check "the POST was sent once" [ "$(line p1 .attempts)" = 1 ]
check "its line: status 503, error null, ok false" \
  [ "$(line p1 '[.status, .error, .ok]')" = '[503,null,false]' ]
check "its line says why it was not retried" \
  [ "$(line p1 .not_retried)" = '"unsafe method"' ]
check "the GET was retried and is ok" \
  [ "$(line g1 '[.attempts, .status, .ok, .not_retried]')" = '[2,200,true,null]' ]
check "the summary counts it and says how to retry it" \
  grep -q "pacer: 1 POST/PATCH job was not retried .*--retry-unsafe, \"retry_unsafe\": true, or --idempotency-keys" "$T/err.txt"

# ---- --retry-unsafe: every job ----
post p2 >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --retry-unsafe --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "--retry-unsafe: the run succeeds (got $rc)" [ "$rc" -eq 0 ]
check "--retry-unsafe: retried, 200, ok, nothing not retried" \
  [ "$(line p2 '[.attempts, .status, .ok, .not_retried]')" = '[2,200,true,null]' ]
check "--retry-unsafe: the summary says nothing of it" \
  bash -c "! grep -q 'not retried' '$T/err.txt'"

# ---- "retry_unsafe": true, one job ----
{
  post p3 ', "retry_unsafe": true'
  post p4
} >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --out "$T/out.jsonl" 2>"$T/err.txt"
check "\"retry_unsafe\": true: that job retried and ok" \
  [ "$(line p3 '[.attempts, .status, .ok]')" = '[2,200,true]' ]
check "the other job of the file is not" \
  [ "$(line p4 '[.attempts, .status, .not_retried]')" = '[1,503,"unsafe method"]' ]

# ---- --idempotency-keys: retried, the same key on both attempts ----
post p5 >"$T/jobs.jsonl"
printf '{"id": "p6", "method": "POST", "url": "%s/send?job=p6&fail_first=1&fail_status=503", "headers": {"Idempotency-Key": "mine"}}\n' "$BASE" >>"$T/jobs.jsonl"
send "$T/jobs.jsonl" --idempotency-keys --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "--idempotency-keys: the run succeeds (got $rc)" [ "$rc" -eq 0 ]
check "--idempotency-keys: retried and ok" \
  [ "$(line p5 '[.attempts, .status, .ok]')" = '[2,200,true]' ]
k=$(keys p5)
set -- $k
same=no
[ "$#" -eq 2 ] && [ "$1" = "$2" ] && [[ "$1" == pacer-* ]] && same=yes
check "the server saw one key twice (got '$k')" [ "$same" = yes ]
first=$1
check "a job's own key is kept (got '$(keys p6)')" [ "$(keys p6)" = "mine mine" ]
send "$T/jobs.jsonl" --idempotency-keys --out "$T/out.jsonl" 2>/dev/null
k=$(keys p5)
set -- $k
same=no
[ "$#" -eq 3 ] && [ "$3" = "$first" ] && same=yes
check "a second run of the file sends the same key (got '$k')" [ "$same" = yes ]

# ---- with --spool: the spool's key, or the command's with the flag ----
post p7 >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --spool "$T/a.db" --out "$T/out.jsonl" 2>/dev/null
k=$(keys p7)
same=no
[[ "$(line p7 '[.attempts, .status]')" == '[2,200]' &&
  "$k" =~ ^pacer-[0-9a-f]{16}-[0-9]+\ pacer-[0-9a-f]{16}-[0-9]+$ ]] && same=yes
check "--spool: the POST is retried under the spool's key (got '$k')" [ "$same" = yes ]
post p8 >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --spool "$T/b.db" --idempotency-keys --out "$T/out.jsonl" 2>/dev/null
k=$(keys p8)
same=no
[[ "$(line p8 .attempts)" == 2 && "$k" =~ ^pacer-[0-9a-f]{32}\ pacer-[0-9a-f]{32}$ ]] &&
  same=yes
check "--spool --idempotency-keys: the command's key wins (got '$k')" [ "$same" = yes ]

# ---- --ok-status ----
printf '{"id": "n1", "url": "%s/gone?job=n1&status=404"}\n' "$BASE" >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --out "$T/out.jsonl" 2>/dev/null
rc=$?
check "a 404 is not ok by default (exit 1, got $rc)" [ "$rc" -eq 1 ]
check "its line says ok false" [ "$(line n1 .ok)" = false ]
send "$T/jobs.jsonl" --ok-status 404,410 --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "--ok-status 404: the run succeeds (got $rc)" [ "$rc" -eq 0 ]
check "--ok-status 404: its line says ok true" \
  [ "$(line n1 '[.status, .ok]')" = '[404,true]' ]
check "--ok-status 404: counted as succeeded" \
  grep -q "1 jobs in .*: 1 succeeded, 0 failed" "$T/err.txt"

# ---- --retry-on ----
{
  printf '{"id": "r1", "url": "%s/r?job=r1&fail_first=1&fail_status=429"}\n' "$BASE"
  printf '{"id": "r2", "url": "%s/r?job=r2&fail_first=1&fail_status=503"}\n' "$BASE"
} >"$T/jobs.jsonl"
send "$T/jobs.jsonl" --retry-on 503 --out "$T/out.jsonl" 2>/dev/null
check "--retry-on 503: a 429 is not retried" \
  [ "$(line r1 '[.attempts, .status, .ok, .not_retried]')" = '[1,429,false,null]' ]
check "--retry-on 503: a 503 still is" \
  [ "$(line r2 '[.attempts, .status, .ok]')" = '[2,200,true]' ]
send "$T/jobs.jsonl" --retry-on 600 --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "--retry-on 600 is a usage error (got $rc)" [ "$rc" -eq 2 ]
check "saying why" grep -q -- "--retry-on: '600' is not an HTTP status (100..599)" "$T/err.txt"

finish
