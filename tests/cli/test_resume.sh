#!/bin/bash
# SPDX-License-Identifier: MIT
# `pacer send --spool` whose result lines cannot be written (/dev/full, a
# file size limit): the jobs stay in the spool, the run exits 1 naming the
# output, and `pacer resume` writes every missing line. And the settings a
# spooled run keeps: resume without flags holds the run's rate (measured at
# pacer-mock) and writes to the run's --out, a flag given again overrides its
# setting and says so, another --out is refused without --allow-out-change,
# and a spool that keeps no settings still resumes.
# Usage: test_resume.sh PACER PACER_MOCK
set -u
PACER=$(realpath "$1")
MOCK=$2
. "$(dirname "$0")/lib.sh"
start_mock
field() { "$PACER" status --spool "$1" | awk -v k="$2" '$1 == k { print $2 }'; }
left() { echo $(($(field "$1" queued) + $(field "$1" waiting) + $(field "$1" in_flight))); }
# Result lines of FILE: lines, distinct ids, and ids with status 200.
lines() { wc -l <"$1"; }
ids() { jq -r .id "$1" | sort -u | wc -l; }
ok200() { jq -c 'select(.status == 200)' "$1" | wc -l; }

# ---- results that cannot be written stay in the spool ----
printf '{"id": %d, "url": "%s/f?job=%d"}\n' 1 "$BASE" 1 2 "$BASE" 2 >"$T/two.jsonl"
"$PACER" send --spool "$T/full.db" --out /dev/full -q "$T/two.jsonl" 2>"$T/full.err"
rc=$?
echo "     /dev/full: exit $rc; $(tr '\n' ' ' <"$T/full.err")"
echo "     status: done $(field "$T/full.db" done), left $(left "$T/full.db")"
check "/dev/full: exit 1, the message names the output and the error" \
  bash -c "[ $rc -eq 1 ] && grep -q '/dev/full: No space left on device' '$T/full.err'"
check "/dev/full: both jobs stay in the spool, none counted done" \
  bash -c "[ $(field "$T/full.db" done) -eq 0 ] && [ $(left "$T/full.db") -eq 2 ]"
"$PACER" resume --spool "$T/full.db" --out "$T/full.out" --allow-out-change -q 2>"$T/err"
rc=$?
echo "     resume to a file: exit $rc, $(lines "$T/full.out") lines, $(ids "$T/full.out") ids"
check "resume writes both missing lines" \
  bash -c "[ $rc -eq 0 ] && [ $(lines "$T/full.out") -eq 2 ] && [ $(ids "$T/full.out") -eq 2 ] && [ $(ok200 "$T/full.out") -eq 2 ]"
check "and empties the spool" [ "$(left "$T/full.db")" -eq 0 ]
# Both jobs were sent before the crash-free stop: their queue time counts
# from the resume, never below 0.
check "resumed jobs that were sent before report queue_ms >= 0" \
  [ "$(jq -c 'select(.queue_ms < 0)' "$T/full.out" | wc -l)" -eq 0 ]

# A file size limit (RLIMIT_FSIZE, 2 MiB: the spool's files stay well below
# it) and result lines of about 270 KiB: the output fills after a few. First
# with SIGXFSZ ignored by the caller (each write gets EFBIG), then with its
# default action, which pacer must ignore itself.
N=20
awk -v n="$N" -v b="$BASE" 'BEGIN {
  for (i = 1; i <= n; i++) printf "{\"id\": %d, \"url\": \"%s/big?job=%d&bytes=200000\"}\n", i, b, i }' >"$T/big.jsonl"
for how in ignored default; do
  rm -f "$T"/big.db* "$T/big.out"
  if [ $how = ignored ]; then
    (ulimit -f 2048 && trap '' XFSZ && exec "$PACER" send --spool "$T/big.db" --out "$T/big.out" \
      --body -q "$T/big.jsonl") 2>"$T/big.err"
  else
    (ulimit -f 2048 && trap - XFSZ && exec "$PACER" send --spool "$T/big.db" --out "$T/big.out" \
      --body -q "$T/big.jsonl") 2>"$T/big.err"
  fi
  rc=$?
  n1=$(lines "$T/big.out")
  kept=$(left "$T/big.db")
  echo "     file size limit, SIGXFSZ $how: exit $rc, $n1 whole lines written, $kept jobs left, done $(field "$T/big.db" done); $(tr '\n' ' ' <"$T/big.err")"
  check "size limit ($how): exit 1, the message names the output" \
    bash -c "[ $rc -eq 1 ] && grep -q 'big.out: File too large' '$T/big.err'"
  check "size limit ($how): the output filled ($n1 of $N lines), the rest stay ($kept)" \
    bash -c "[ $n1 -lt $N ] && [ $((n1 + kept)) -ge $N ]"
  "$PACER" resume --spool "$T/big.db" -q 2>"$T/err"
  rc=$?
  echo "     resume: exit $rc, $(lines "$T/big.out") lines, $(ids "$T/big.out") ids, $(ok200 "$T/big.out") with 200"
  check "size limit ($how): resume writes every missing line, each once" \
    bash -c "[ $rc -eq 0 ] && [ $(lines "$T/big.out") -eq $N ] && [ $(ids "$T/big.out") -eq $N ] && [ $(ok200 "$T/big.out") -eq $N ]"
done

# ---- the run's settings ----
# 150 jobs at 50/s, killed after 20 have arrived, then resumed without
# --rate: once as the issue's user did, with --out given again, once with
# no flag at all. Each must hold 50/s (burst 1: at most 51 in any second)
# and append to the run's --out.
N=150
awk -v n="$N" -v b="$BASE" 'BEGIN {
  for (i = 1; i <= n; i++) printf "{\"id\": %d, \"url\": \"%s/r?job=%d\"}\n", i, b, i }' >"$T/rate.jsonl"
for how in "--out" "no flags"; do
  reset
  rm -f "$T"/rate.db* "$T/rate.out"
  "$PACER" send --spool "$T/rate.db" --out "$T/rate.out" --rate 50/s --concurrency 10 -q \
    "$T/rate.jsonl" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 200); do
    [ "$(stats "?lists=0" | jq .total)" -ge 20 ] && break
    sleep 0.02
  done
  kill -KILL $pid
  wait $pid 2>/dev/null
  before=$(lines "$T/rate.out")
  reset
  if [ "$how" = --out ]; then
    (cd / && "$PACER" resume --spool "$T/rate.db" --out "$T/rate.out" -q) 2>"$T/resume.err"
  else
    (cd / && "$PACER" resume --spool "$T/rate.db" -q) 2>"$T/resume.err"
  fi
  rc=$?
  s=$(stats)
  total=$(echo "$s" | jq .total)
  win=$(echo "$s" | jq .max_1s_window)
  span=$(echo "$s" | jq '[.arrivals[].t_ms] | (max - min) / 1000')
  echo "     killed with $before lines written; resume with $how: exit $rc, $total requests, max 1 s window $win, first to last ${span} s, $(lines "$T/rate.out") lines, $(ids "$T/rate.out") ids"
  check "resume ($how) exits 0 and completes the run's --out" \
    bash -c "[ $rc -eq 0 ] && [ $(ids "$T/rate.out") -eq $N ] && [ $(lines "$T/rate.out") -eq $N ]"
  check "resume ($how) sent the rest ($total >= 100)" [ "$total" -ge 100 ]
  # The server counts arrivals, which a loaded machine may shift by a few ms.
  check "resume ($how) holds the run's 50/s: max 1 s window $win <= 51 + 2" [ "$win" -le 53 ]
  check "resume ($how) is not slower than it needs to be: span >= (total-1)/50 less 5%" \
    awk "BEGIN { exit !(${span:-0} >= ($total - 1) / 50 * 0.95) }"
  check "resume ($how): no setting reported as changed" bash -c "! grep -q overrides '$T/resume.err'"
done

"$PACER" resume --spool "$T/rate.db" --rate 20 --concurrency 3 -q 2>"$T/err"
rc=$?
echo "     resume --rate 20 --concurrency 3: exit $rc; $(tr '\n' ' ' <"$T/err")"
check "a flag given again overrides its setting and says so" \
  bash -c "[ $rc -eq 0 ] && grep -q -- '--rate 20.0 overrides the run.s --rate 50.0' '$T/err' && grep -q -- '--concurrency 3 overrides the run.s --concurrency 10' '$T/err'"
"$PACER" resume --spool "$T/rate.db" --out "$T/other.out" -q 2>"$T/err"
rc=$?
echo "     resume --out another file: exit $rc; $(tr '\n' ' ' <"$T/err")"
check "another --out is refused (exit 2, names --allow-out-change), nothing created" \
  bash -c "[ $rc -eq 2 ] && grep -q -- '--allow-out-change' '$T/err' && [ ! -e '$T/other.out' ]"
(cd "$T" && "$PACER" resume --spool rate.db --out ./rate.out -q 2>"$T/err")
rc=$?
check "the same --out by another path is accepted" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/err' ]"

# A spool that keeps no settings (as the previous version wrote them) still
# resumes, with the flags given.
printf '{"id": 1, "url": "%s/o?job=1"}\n' "$BASE" >"$T/one.jsonl"
"$PACER" send --spool "$T/old.db" --out "$T/old.out" -q "$T/one.jsonl"
sqlite3 "$T/old.db" "DELETE FROM meta WHERE k LIKE 'value:%'; INSERT INTO jobs(state,attempts,max_attempts,due_ms,deadline_ms,created_ms,timeout_ms,priority,flags,handler,method,url,tag) VALUES(0,0,0,0,0,0,0,0,0,'pacer.send','GET','$BASE/o?job=2','[2,2]')"
"$PACER" resume --spool "$T/old.db" -q 2>"$T/err"
rc=$?
check "no settings kept and no --out: exit 2, says why" \
  bash -c "[ $rc -eq 2 ] && grep -q 'keeps no settings' '$T/err'"
"$PACER" resume --spool "$T/old.db" --out "$T/old.out" -q 2>"$T/err"
rc=$?
check "no settings kept, --out given: resumes, warns, writes the line" \
  bash -c "[ $rc -eq 0 ] && grep -q 'keeps no settings' '$T/err' && [ $(ids "$T/old.out") -eq 2 ]"

# ---- a CSV import stopped by a crash, resumed ----
# 300 CSV rows, every fifth with a quoted note over two lines, sent with
# --url "$BASE/c?job={id}", --body-template and --define, 100/s with
# --queue-max 20 (the reading waits at the bound): killed (-9) once 30
# have arrived, the import not complete. pacer resume with no flag (--csv,
# --url, --body-template and --define are the run's settings) reads the
# header row again and the rest from the mark, which is always at a
# record's end: every row ends once, 200, in the run's --out, and the
# server saw every job (a record resumed from its middle would be a
# field-count error instead).
N=300
awk -v n="$N" 'BEGIN { print "id,note"
  for (i = 1; i <= n; i++)
    if (i % 5 == 0) printf "%d,\"two\nlines %d\"\n", i, i
    else printf "%d,plain %d\n", i, i }' >"$T/c.csv"
printf '{"note": "{note}", "who": "{who}"}' >"$T/body.tpl"
reset
"$PACER" send --csv --url "$BASE/c?job={id}" --body-template "$T/body.tpl" \
  --define who=me --spool "$T/c.db" --out "$T/c.out" --rate 100 \
  --concurrency 5 --queue-max 20 -q "$T/c.csv" 2>"$T/c.err" &
pid=$!
for _ in $(seq 1 250); do
  [ "$(stats "?lists=0" | jq .total)" -ge 30 ] && break
  sleep 0.02
done
kill -KILL $pid
wait $pid 2>/dev/null
imported=$("$PACER" status --spool "$T/c.db" | grep '^imported')
before=$(lines "$T/c.out")
(cd / && "$PACER" resume --spool "$T/c.db" -q) 2>"$T/c.err"
rc=$?
jobs_seen=$(stats | jq '[.arrivals[].job] | unique | length')
echo "     CSV: killed with $before lines written ($imported); resume: exit $rc," \
  "$(lines "$T/c.out") lines, $(ids "$T/c.out") ids, $(ok200 "$T/c.out") answered 200," \
  "the server saw $jobs_seen jobs; $(tr '\n' ' ' <"$T/c.err")"
check "CSV: the crash stopped the import partway" \
  bash -c "echo '$imported' | grep -q 'not complete'"
check "CSV: resume exits 0 and every row ends once, 200, in the run's --out" \
  bash -c "[ $rc -eq 0 ] && [ $(lines "$T/c.out") -eq $N ] && [ $(ids "$T/c.out") -eq $N ] && [ $(ok200 "$T/c.out") -eq $N ]"
check "CSV: the server saw all $N jobs ($jobs_seen)" [ "$jobs_seen" -eq "$N" ]
check "CSV: the ids are the rows' (1 to $N)" \
  bash -c "[ \"\$(jq -r .id '$T/c.out' | sort -n | uniq | tr '\n' ' ')\" = \"$(seq -s ' ' 1 $N) \" ]"

finish
