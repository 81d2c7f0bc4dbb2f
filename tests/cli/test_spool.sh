#!/bin/bash
# SPDX-License-Identifier: MIT
# `pacer send --spool` killed with SIGKILL at a random moment, then
# `pacer resume`, five times, against pacer-mock: every job id completes,
# the server sees no more duplicates than the jobs in flight at the kill, no
# result line is written twice, and the spool's integrity check passes.
# Also: status, a spool that is busy, corrupt or from a newer version, and
# SIGINT with a spool. Usage: test_spool.sh PACER PACER_MOCK [JOBS] [ROUNDS]
set -u
PACER=$1
MOCK=$2
N=${3:-50000}
ROUNDS=${4:-5}
. "$(dirname "$0")/lib.sh"
start_mock
field() { "$PACER" status --spool "$1" | awk -v k="$2" '$1 == k { print $2 }'; }

awk -v n="$N" -v b="$BASE" 'BEGIN {
  for (i = 1; i <= n; i++) printf "{\"id\": %d, \"url\": \"%s/k?job=%d\"}\n", i, b, i }' >"$T/jobs.jsonl"

# A round counts only if the kill caught pacer running (it died of SIGKILL);
# one whose pacer had already exited is tried again with a new moment, at
# most 3 times per round.
round=0
tries=0
while [ "$round" -lt "$ROUNDS" ] && [ "$tries" -lt $((ROUNDS * 3)) ]; do
  tries=$((tries + 1))
  reset
  rm -f "$T"/run.db* "$T/out.jsonl"
  # The kill moment: once the server has seen a random number of requests.
  target=$(((RANDOM * 32768 + RANDOM) % (N * 9 / 10) + N / 50))
  "$PACER" send --spool "$T/run.db" --out "$T/out.jsonl" --concurrency 50 -q \
    "$T/jobs.jsonl" 2>"$T/send.err" &
  pid=$!
  for _ in $(seq 1 1200); do
    seen=$(stats "?lists=0" | jq .total)
    [ "$seen" -ge "$target" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.02
  done
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  st=$?
  if [ "$st" -ne 137 ]; then
    echo "     try $tries: pacer had already exited (status $st) at the kill: not a crash round"
    [ "$st" -eq 0 ] || bad "try $tries: pacer send exited $st before the kill ($(head -c 300 "$T/send.err"))"
    continue
  fi
  round=$((round + 1))
  inflight=$(field "$T/run.db" in_flight)
  before=$(wc -l <"$T/out.jsonl")
  integrity=$(field "$T/run.db" integrity)
  "$PACER" resume --spool "$T/run.db" --out "$T/out.jsonl" --concurrency 50 -q 2>"$T/resume.err"
  rc=$?
  s=$(stats)
  total=$(echo "$s" | jq .total)
  unique=$(echo "$s" | jq '[.arrivals[].job] | unique | length')
  dups=$((total - unique))
  lines=$(wc -l <"$T/out.jsonl")
  ids=$(jq -r .id "$T/out.jsonl" | sort -u | wc -l)
  twice=$(jq -r .id "$T/out.jsonl" | sort | uniq -d | wc -l)
  ok200=$(jq -c 'select(.status == 200)' "$T/out.jsonl" | wc -l)
  after=$(field "$T/run.db" integrity)
  left=$(($(field "$T/run.db" queued) + $(field "$T/run.db" waiting) + $(field "$T/run.db" in_flight)))
  echo "     round $round: killed after $target+ requests with $before result lines written and $inflight in flight;" \
    "resume exit $rc; server: $total requests for $unique jobs ($dups duplicates);" \
    "$lines result lines, $ids ids, $twice twice; integrity $integrity/$after"
  check "round $round: integrity ok after the kill" [ "$integrity" = ok ]
  check "round $round: resume exits 0" [ "$rc" -eq 0 ]
  check "round $round: every job id completed ($ids of $N, all 200)" \
    bash -c "[ $ids -eq $N ] && [ $ok200 -eq $N ] && [ $lines -eq $N ]"
  check "round $round: the server saw every job" [ "$unique" -eq "$N" ]
  check "round $round: duplicates at the server ($dups) <= in flight at the kill ($inflight)" \
    [ "$dups" -le "$inflight" ]
  check "round $round: no result line twice" [ "$twice" -eq 0 ]
  check "round $round: integrity ok, spool empty after resume" \
    bash -c "[ '$after' = ok ] && [ $left -eq 0 ]"
done
check "$ROUNDS rounds killed pacer mid-run ($round in $tries tries)" [ "$round" -eq "$ROUNDS" ]

# ---- status, refusals and errors ----
printf '{"url": "%s/x"}\n' "$BASE" >"$T/one.jsonl"
# A row left as a crash would leave it (sqlite3 writes it directly).
sqlite3 "$T/run.db" "INSERT INTO jobs(state,attempts,max_attempts,due_ms,deadline_ms,created_ms,timeout_ms,priority,flags,handler,method,url) VALUES(0,0,0,0,0,0,0,0,0,'pacer.send','GET','$BASE/x')" 2>/dev/null
"$PACER" send --spool "$T/run.db" --out "$T/o.jsonl" "$T/one.jsonl" 2>"$T/err"
rc=$?
check "send on a spool with jobs left exits 2 and says resume" \
  bash -c "[ $rc -eq 2 ] && grep -q 'pacer resume' '$T/err'"
"$PACER" resume --spool "$T/typo.db" --out "$T/o.jsonl" 2>"$T/err"
rc=$?
check "resume of a spool that does not exist: exit 2, nothing created" \
  bash -c "[ $rc -eq 2 ] && grep -q 'No such file' '$T/err' && [ ! -e '$T/typo.db' ]"
check "--spool without --out exits 2" \
  bash -c "'$PACER' send --spool '$T/x.db' '$T/one.jsonl' 2>/dev/null; [ \$? -eq 2 ]"
head -c 8192 /dev/urandom >"$T/junk.db"
cp "$T/junk.db" "$T/junk.orig"
"$PACER" send --spool "$T/junk.db" --out "$T/o.jsonl" "$T/one.jsonl" 2>"$T/err"
rc=$?
check "a corrupt spool: exit 2, a clear message, the file untouched" \
  bash -c "[ $rc -eq 2 ] && grep -q 'not a pacer spool' '$T/err' && cmp -s '$T/junk.db' '$T/junk.orig'"
rm -f "$T"/v.db*
"$PACER" send --spool "$T/v.db" --out "$T/o.jsonl" -q "$T/one.jsonl"
sqlite3 "$T/v.db" "PRAGMA user_version=7"
"$PACER" resume --spool "$T/v.db" --out "$T/o.jsonl" 2>"$T/err"
rc=$?
check "a spool from a newer version: exit 2, says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'newer' '$T/err'"

# A read-only directory (as an unprivileged user: root writes anywhere).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
  setpriv --reuid=65534 --regid=65534 --clear-groups "$PACER" --version >/dev/null 2>&1; then
  mkdir -p "$T/pub/ro"
  chmod 755 "$T"
  chmod 777 "$T/pub"
  chmod 555 "$T/pub/ro"
  cp "$T/one.jsonl" "$T/pub/one.jsonl"
  chmod 644 "$T/pub/one.jsonl"
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$PACER" send --spool "$T/pub/ro/run.db" --out "$T/pub/o.jsonl" \
    "$T/pub/one.jsonl" 2>"$T/err"
  rc=$?
  check "a read-only directory: exit 2, says why, nothing created" \
    bash -c "[ $rc -eq 2 ] && grep -q 'Permission denied' '$T/err' && [ -z \"\$(ls -A '$T/pub/ro')\" ]"
  chmod 700 "$T"
else
  skip "a read-only directory (needs root, setpriv, and a pacer user 65534 can run)"
fi

# A spool in use by a running dispatcher.
rm -f "$T"/b.db*
printf '{"url": "%s/slow?latency_ms=3000"}\n' "$BASE" >"$T/slow.jsonl"
"$PACER" send --spool "$T/b.db" --out "$T/b.out" -q "$T/slow.jsonl" &
pid=$!
for _ in $(seq 1 100); do [ "$(stats "?lists=0" | jq .in_flight)" -ge 1 ] && break; sleep 0.05; done
"$PACER" resume --spool "$T/b.db" 2>"$T/err"
rc=$?
check "a spool in use by another dispatcher: exit 2, says so" \
  bash -c "[ $rc -eq 2 ] && grep -q 'in use' '$T/err'"
check "status reads a spool in use: 1 in flight" [ "$(field "$T/b.db" in_flight)" = 1 ]
wait $pid

# SIGINT with a spool: what was read finishes, the rest of the file is
# read by resume.
reset
rm -f "$T"/i.db* "$T/i.out"
awk -v b="$BASE" 'BEGIN { for (i = 1; i <= 2000; i++) printf "{\"id\": %d, \"url\": \"%s/i?job=%d\"}\n", i, b, i }' >"$T/int.jsonl"
"$PACER" send --spool "$T/i.db" --out "$T/i.out" --rate 1000 --queue-max 100 -q "$T/int.jsonl" &
pid=$!
for _ in $(seq 1 100); do [ "$(stats "?lists=0" | jq .total)" -ge 300 ] && break; sleep 0.05; done
kill -INT $pid
wait $pid
rc=$?
n1=$(wc -l <"$T/i.out")
"$PACER" resume --spool "$T/i.db" --out "$T/i.out" -q
rc2=$?
n2=$(jq -r .id "$T/i.out" | sort -u | wc -l)
echo "     SIGINT with a spool: exit $rc with $n1 result lines; resume exit $rc2, $n2 distinct ids"
check "SIGINT with a spool exits 130, resume completes the file" \
  bash -c "[ $rc -eq 130 ] && [ $n1 -lt 2000 ] && [ $rc2 -eq 0 ] && [ $n2 -eq 2000 ] && [ \$(wc -l <'$T/i.out') -eq 2000 ]"

finish
