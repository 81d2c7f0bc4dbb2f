#!/bin/bash
# SPDX-License-Identifier: MIT
# `pacer send --queue-policy` against a pacer-mock on a free loopback port:
# one slot held by a 1.5 s high-priority job while 100 low jobs are read
# against --queue-max 10. Under fail, the lines refused at the bound get
# their own result line (PACER_EFULL); under drop-oldest-low, the jobs shed
# get theirs (PACER_ESHED), the high one is never shed, and a shed job
# never reaches the server. Every line ends in exactly one result line.
# Usage: test_queue_policy.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"

start_mock
{
  printf '{"id": 0, "url": "%s/blk?latency_ms=1500&job=0", "priority": "high"}\n' "$BASE"
  for i in $(seq 1 100); do printf '{"id": %d, "url": "%s/q?job=%d"}\n' "$i" "$BASE" "$i"; done
} >"$T/in.jsonl"

# policy code: runs the input, checks one result line per line, that the
# refused or shed ones (error code) never arrived and the others answered
# 200 and arrived once.
run() {
  local policy=$1 code=$2
  reset
  "$PACER" send --concurrency 1 --queue-max 10 --queue-policy "$policy" \
    --max-attempts 1 "$T/in.jsonl" --out "$T/$policy.out" 2>"$T/$policy.err"
  local rc=$?
  local lines n_err n_ok arrived
  lines=$(wc -l <"$T/$policy.out")
  n_err=$(jq -s --arg c "$code" 'map(select(.error.code == $c)) | length' "$T/$policy.out")
  n_ok=$(jq -s 'map(select(.status == 200)) | length' "$T/$policy.out")
  arrived=$(stats | jq '.total')
  echo "     $policy: exit $rc, $lines result lines, $n_err $code, $n_ok answered 200, $arrived arrived"
  check "$policy: one result line per input line (101)" [ "$lines" -eq 101 ]
  check "$policy: each id once" [ "$(jq -s 'map(.id) | unique | length' "$T/$policy.out")" -eq 101 ]
  check "$policy: some lines ended with $code" [ "$n_err" -ge 1 ]
  check "$policy: every other line answered 200" [ $((n_err + n_ok)) -eq 101 ]
  check "$policy: the server saw exactly the jobs that answered 200" [ "$arrived" -eq "$n_ok" ]
  check "$policy: exit status 1 (some jobs failed)" [ "$rc" -eq 1 ]
  check "$policy: the summary counts them" grep -q "$code" "$T/$policy.err"
  check "$policy: the high job ran" jq -e -s 'map(select(.id == 0))[0].status == 200' "$T/$policy.out"
}

run fail PACER_EFULL
check "fail: a refused line says the queue is full" \
  jq -e -s 'map(select(.error.code == "PACER_EFULL"))[0].error.message | test("queue is full")' "$T/fail.out"
run drop-oldest-low PACER_ESHED
# No low job starts while the high one holds the slot (1.5 s, far longer
# than reading 100 lines), so the lows that ran are the newest: every shed
# id is below every low id that ran.
check "drop-oldest-low: the oldest lows were shed" \
  jq -e -s '(map(select(.error.code == "PACER_ESHED") | .id) | max) <
            (map(select(.status == 200 and .id > 0) | .id) | min)' "$T/drop-oldest-low.out"
check "a bad policy is refused" bash -c "! '$PACER' send --queue-policy drop-newest '$T/in.jsonl' >/dev/null 2>&1"

finish
