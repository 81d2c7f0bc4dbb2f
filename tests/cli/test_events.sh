#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of the command's events against a pacer-mock on a free
# loopback port (issue #17, part 1): --events FILE gets one JSON line per
# event, each with its wall-clock time, in the order they happened: a
# 429 with Retry-After pauses its key (pause, retry, resume, then the
# job's success); a host answering 500 to everything opens its breaker
# (with the ratio and the calls that opened it), half-opens it after the
# cooldown and opens it again when the probe fails; --verbose prints the
# same events on stderr; an --events file that cannot be opened is a usage
# error before anything is sent. 14 jobs, about 2 s; loopback only.
# Usage: test_events.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"

need_jq

start_mock

# ---- an --events file that cannot be written ----
echo "{\"url\": \"$BASE/never\"}" >"$T/one.jsonl"
"$PACER" send -q --events "$T/no/such/dir/ev.jsonl" "$T/one.jsonl" >/dev/null 2>"$T/ev.err"
rc=$?
check "an --events file that cannot be opened is a usage error (got $rc)" [ "$rc" -eq 2 ]
check "saying why" grep -q -- "--events .*no/such/dir/ev.jsonl: No such file or directory" "$T/ev.err"
check "and nothing was sent" [ "$(stats | jq .total)" -eq 0 ]

# ---- a run that pauses a key and opens a breaker ----
# One job whose first answer is a 429 with Retry-After: 1 (key "ra"),
# then 13 to a host that answers 500 to everything (key "down"): the
# first 10 open its breaker (20 calls, 10 at least, half failing), the
# other 3 wait for its cooldown (300 ms) and go out one at a time as
# probes, each failing and opening it again.
{
  printf '{"url": "%s/ra?job=1&fail_first=1&fail_status=429&retry_after=1", "key": "ra", "max_attempts": 2}\n' "$BASE"
  for i in $(seq 1 13); do
    printf '{"url": "%s/down?job=%d&status=500", "key": "down"}\n' "$BASE" "$i"
  done
} >"$T/jobs.jsonl"
start=$(date +%s)
"$PACER" send "$T/jobs.jsonl" --concurrency 1 --max-attempts 1 \
  --breaker-cooldown 300 --retry-budget off --events "$T/events.jsonl" \
  --verbose --out "$T/out.jsonl" 2>"$T/err.txt"
rc=$?
check "the run ends with its failures counted (exit 1, got $rc)" [ "$rc" -eq 1 ]
check "within 20 s" [ $(($(date +%s) - start)) -le 20 ]
check "14 result lines" [ "$(wc -l <"$T/out.jsonl")" -eq 14 ]
check "every event line is JSON with a time and a name" \
  jq -e -s 'length > 0 and all(.ts != null and (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) and .event != null and .message != null)' "$T/events.jsonl"
ev() { jq -c -s "$1" "$T/events.jsonl"; }
check "key ra: paused by its Retry-After for 1 s" \
  jq -e -s '[.[] | select(.key == "ra")][0] | .event == "pause" and .reason == "retry_after" and .duration_ms == 1000' "$T/events.jsonl"
check "then its retry, after the Retry-After" \
  jq -e -s '[.[] | select(.key == "ra")][1] | .event == "retry" and .reason == "retry_after" and .attempt == 1 and .status == 429 and .delay_ms == 1000 and .job > 0' "$T/events.jsonl"
check "then its resume" \
  jq -e -s '[.[] | select(.key == "ra")][2] | .event == "resume"' "$T/events.jsonl"
check "the ra job succeeded on its second attempt" \
  jq -e -s 'map(select(.status == 200)) | length == 1' "$T/out.jsonl"
down=$(ev '[.[] | select(.key == "down" and .event == "breaker") | "\(.from)>\(.to)"] | join(",")')
check "key down: closed>open, then half_open and open again per probe (got $down)" \
  [ "$down" = '"closed>open,open>half_open,half_open>open,open>half_open,half_open>open,open>half_open,half_open>open"' ]
check "the opening says what opened it: 10 of 10 failed" \
  jq -e -s '[.[] | select(.key == "down" and .event == "breaker")][0] | .ratio == 1 and .calls == 10 and .slow_ratio == 0' "$T/events.jsonl"
check "no retry of key down (one attempt each)" \
  [ "$(ev '[.[] | select(.event == "retry" and .key == "down")] | length')" -eq 0 ]
check "the times never go back" \
  jq -e -s '[.[].time_ms] as $t | [range(1; $t | length)] | all($t[.] >= $t[. - 1])' "$T/events.jsonl"
check "--verbose: the breaker's opening on stderr" \
  grep -q "pacer: event: breaker down: breaker closed -> open: 100% failed, 0% slow of the last 10" "$T/err.txt"
check "--verbose: the pause on stderr" \
  grep -q "pacer: event: pause ra: paused 1.000 s (429/503 Retry-After)" "$T/err.txt"

# ---- appended, not replaced ----
lines=$(wc -l <"$T/events.jsonl")
printf '{"url": "%s/ra?job=2&status=429&retry_after=1", "key": "again"}\n' "$BASE" >"$T/again.jsonl"
"$PACER" send -q --events "$T/events.jsonl" --max-attempts 1 "$T/again.jsonl" >/dev/null 2>&1
check "a second run appends to the file (its pause)" \
  [ "$(wc -l <"$T/events.jsonl")" -gt "$lines" ]
check "the first run's lines are still there" \
  [ "$(head -n "$lines" "$T/events.jsonl" | jq -s 'map(select(.key == "ra")) | length')" -ge 3 ]

finish
