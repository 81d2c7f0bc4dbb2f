#!/bin/bash
# SPDX-License-Identifier: MIT
# `pacer send --spool` whose result lines cannot be written (/dev/full, a
# file size limit): the jobs stay in the spool, the run exits 1 naming the
# output, and `pacer resume` writes every missing line.
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
"$PACER" resume --spool "$T/full.db" --out "$T/full.out" -q 2>"$T/err"
rc=$?
echo "     resume to a file: exit $rc, $(lines "$T/full.out") lines, $(ids "$T/full.out") ids"
check "resume writes both missing lines" \
  bash -c "[ $rc -eq 0 ] && [ $(lines "$T/full.out") -eq 2 ] && [ $(ids "$T/full.out") -eq 2 ] && [ $(ok200 "$T/full.out") -eq 2 ]"
check "and empties the spool" [ "$(left "$T/full.db")" -eq 0 ]

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
  "$PACER" resume --spool "$T/big.db" --out "$T/big.out" -q 2>"$T/err"
  rc=$?
  echo "     resume: exit $rc, $(lines "$T/big.out") lines, $(ids "$T/big.out") ids, $(ok200 "$T/big.out") with 200"
  check "size limit ($how): resume writes every missing line, each once" \
    bash -c "[ $rc -eq 0 ] && [ $(lines "$T/big.out") -eq $N ] && [ $(ids "$T/big.out") -eq $N ] && [ $(ok200 "$T/big.out") -eq $N ]"
done

finish
