#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of Ctrl-C and of the progress output (issue #18, parts 2
# and 3) against a pacer-mock on a free loopback port.
# - The first SIGINT starts no more jobs: without a spool the queued ones
#   end cancelled, each with its result line; with --spool they stay for
#   pacer resume, which then sends exactly the rest (every job once at the
#   server). The ones in flight finish; no request reaches the server after
#   them. The message and the summary give the counts.
# - A second SIGINT aborts slow transfers in flight (5 s) at once.
# - --progress=always and json write lines on stderr without a terminal
#   (the JSON parsed with jq), -q writes none; on a pseudo-terminal
#   (script(1)) the redrawn line shows done/total and a key paused by a
#   429's Retry-After with its countdown.
# About 15 s; loopback only.
# Usage: test_ctrlc.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"

need_jq

start_mock
total() { stats '?lists=0' | jq .total; }

# jobs N LATENCY_MS > FILE: N jobs with ids 1..N, each its own job= at the
# server.
jobs() {
  for i in $(seq 1 "$1"); do
    printf '{"id": %d, "url": "%s/x?job=%d&latency_ms=%d"}\n' "$i" "$BASE" "$i" "$2"
  done
}
# wait_for PATTERN FILE: up to 10 s for a line of FILE to match.
wait_for() {
  for _ in $(seq 1 200); do
    grep -q -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# The count before WORDS in the first signal's message, commas removed.
count_of() { grep -o "[0-9,]* $1" "$2" | head -1 | cut -d' ' -f1 | tr -d ,; }

# ---- without a spool: one SIGINT ----
jobs 2000 300 >"$T/jobs.jsonl"
"$PACER" send --rate 100 --out "$T/out.jsonl" "$T/jobs.jsonl" 2>"$T/err.txt" &
pid=$!
sleep 1
kill -INT "$pid"
wait_for "again to abort them" "$T/err.txt"
at_signal=$(total)
wait "$pid"
rc=$?
sleep 0.3 # anything late would have arrived by now
check "SIGINT: exit 130 (got $rc)" [ "$rc" -eq 130 ]
check "the message says what happens" \
  grep -Eq '^pacer: SIGINT: [0-9,]+ queued jobs not started \(cancelled, each with its result line\), finishing [0-9,]+ in flight; again to abort them$' "$T/err.txt"
not_started=$(count_of "queued jobs not started" "$T/err.txt")
in_flight=$(count_of "in flight" "$T/err.txt")
echo "     first SIGINT: ${not_started:-?} not started, ${in_flight:-?} in flight; server had $at_signal"
cancelled=$(jq -s '[.[] | select(.error.code == "PACER_ECANCELED")] | length' "$T/out.jsonl")
ok200=$(jq -s '[.[] | select(.status == 200)] | length' "$T/out.jsonl")
check "every job has exactly one result line" \
  [ "$(jq -r .id "$T/out.jsonl" | sort -u | wc -l)" -eq 2000 -a "$(wc -l <"$T/out.jsonl")" -eq 2000 ]
check "the queued ones are marked cancelled, as many as said ($cancelled)" \
  [ "$cancelled" -eq "${not_started:-x}" ]
check "the cancelled ones never started" \
  jq -e -s 'all(.[] | select(.error.code == "PACER_ECANCELED"); .attempts == 0 and .error.message == "cancelled by shutdown")' "$T/out.jsonl"
check "the rest finished (200): $ok200 + $cancelled = 2000" [ $((ok200 + cancelled)) -eq 2000 ]
# A job in flight may reach the server just after the message; none other.
check "no request reached the server after the ones in flight ($at_signal at the message, $(total) now, $ok200 answered)" \
  [ "$(total)" -eq "$ok200" -a "$at_signal" -le "$ok200" ]
check "the summary counts them" \
  grep -q "^pacer: stopped by SIGINT: $(echo "$cancelled" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') jobs cancelled before they started, 0 stopped in flight" "$T/err.txt"

# ---- with a spool: one SIGINT, then pacer resume ----
reset
rm -f "$T/out.jsonl"
"$PACER" send --rate 100 --spool "$T/s.db" --out "$T/out.jsonl" "$T/jobs.jsonl" 2>"$T/err.txt" &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
check "spooled, SIGINT: exit 130 (got $rc)" [ "$rc" -eq 130 ]
check "the message says the queued ones stay in the spool" \
  grep -Eq '^pacer: SIGINT: [0-9,]+ queued jobs not started \(kept in the spool for pacer resume\), finishing [0-9,]+ in flight' "$T/err.txt"
kept=$(count_of "queued jobs not started" "$T/err.txt")
first=$(wc -l <"$T/out.jsonl")
check "no job of the spool is written as cancelled" \
  jq -e -s 'all(.[]; .status == 200)' "$T/out.jsonl"
check "sent = written before the resume ($first)" [ "$(total)" -eq "$first" ]
"$PACER" status --spool "$T/s.db" >"$T/status.txt"
check "pacer status: none marked done beyond the written ones" \
  grep -qx "done $first" "$T/status.txt"
check "pacer status: the rest stay ($((2000 - first)); the message said ${kept:-?} queued)" \
  [ "$(awk '$1=="queued"||$1=="waiting"||$1=="in_flight"{n+=$2} END{print n}' "$T/status.txt")" -eq $((2000 - first)) ]
"$PACER" resume --spool "$T/s.db" --rate 2000 --concurrency 400 2>"$T/resume.err"
rc=$?
check "pacer resume: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "every job has one result line, 200" \
  jq -e -s 'length == 2000 and ([.[].id] | unique | length) == 2000 and all(.[]; .status == 200)' "$T/out.jsonl"
stats >"$T/stats.json"
check "the server saw every job id exactly once" \
  jq -e '.total == 2000 and ([.arrivals[].job] | unique | length) == 2000' "$T/stats.json"

# ---- a second SIGINT aborts the transfers in flight ----
reset
jobs 200 5000 >"$T/slow.jsonl"
rm -f "$T/out.jsonl"
"$PACER" send --rate 100 --out "$T/out.jsonl" "$T/slow.jsonl" 2>"$T/err.txt" &
pid=$!
sleep 1
kill -INT "$pid"
wait_for "again to abort them" "$T/err.txt"
sleep 0.2
t0=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "second SIGINT: exit 130 (got $rc)" [ "$rc" -eq 130 ]
check "it ended within 3 s of the second signal (${ms} ms; the transfers take 5 s)" [ "$ms" -lt 3000 ]
check "it said so" grep -Eq '^pacer: SIGINT again: aborting [0-9,]+ in flight' "$T/err.txt"
check "every job has one result line, each cancelled (none answered)" \
  jq -e -s 'length == 200 and ([.[].id] | unique | length) == 200 and all(.[]; .error.code == "PACER_ECANCELED")' "$T/out.jsonl"
check "some were in flight" \
  jq -e -s '[.[] | select(.attempts > 0)] | length > 0' "$T/out.jsonl"

# ---- progress without a terminal ----
reset
jobs 300 0 >"$T/p.jsonl"
"$PACER" send --rate 150 --progress=always --progress-interval 1 --out /dev/null "$T/p.jsonl" 2>"$T/err.txt"
check "--progress=always: plain lines on stderr" \
  grep -Eq '^pacer: [0-9,]+/300 done, [0-9.]+/s, ETA [^,]+, [0-9]+ in flight, [0-9]+ (retry|retries) waiting, [0-9]+ failed, [0-9]+ breakers? open' "$T/err.txt"
check "and the last says the run ended" grep -q '^pacer: 300/300 done' "$T/err.txt"
check "no terminal codes" bash -c "! grep -q $'\\r' '$T/err.txt'"
"$PACER" send -q --rate 150 --progress=json --progress-interval 1 --out /dev/null "$T/p.jsonl" 2>"$T/err.txt"
check "--progress=json -q: at least two lines, each a JSON object of the figures" \
  jq -e -s 'length >= 2 and all(.[]; has("done") and .total == 300 and has("rate") and has("in_flight") and has("retries_waiting") and has("failed") and has("breakers_open") and (.paused | type) == "array")' "$T/err.txt"
check "the last one: 300 done" jq -e -s '.[-1].done == 300' "$T/err.txt"
"$PACER" send -q --rate 1000 --progress-interval 1 --out /dev/null "$T/p.jsonl" 2>"$T/err.txt"
check "-q alone: nothing on stderr" [ ! -s "$T/err.txt" ]
"$PACER" send --rate 1000 --progress=never --out /dev/null "$T/p.jsonl" 2>"$T/err.txt"
check "--progress=never: no progress line" bash -c "! grep -q ' done, ' '$T/err.txt'"

# ---- progress on a terminal ----
if command -v script >/dev/null; then
  reset
  {
    jobs 20 0
    printf '{"id": "p", "key": "api.example.test", "url": "%s/ra?job=p&fail_first=1&fail_status=429&retry_after=3"}\n' "$BASE"
  } >"$T/tty.jsonl"
  script -qfec "'$PACER' send --rate 100 --out '$T/tty-out.jsonl' '$T/tty.jsonl'" /dev/null >"$T/tty.txt" 2>&1
  tr '\r' '\n' <"$T/tty.txt" | sed 's/\x1b\[K//g' >"$T/tty-lines.txt"
  check "the terminal line shows done/total" grep -Eq '^pacer: [0-9]+/21 done' "$T/tty-lines.txt"
  check "and the paused key with its countdown" \
    grep -Eq 'api\.example\.test paused [1-3] s \(429 Retry-After\)' "$T/tty-lines.txt"
  check "counting down" bash -c "grep -q 'paused 3 s' '$T/tty-lines.txt' && grep -q 'paused 1 s' '$T/tty-lines.txt'"
  check "with the retry waiting" grep -q ' 1 retry waiting' "$T/tty-lines.txt"
else
  skip "no script(1): the terminal line is not checked"
fi

finish
