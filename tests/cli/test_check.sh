#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of checking before sending and of the input's forms
# (issue #18, parts 4 and 5) against a pacer-mock on a free loopback port:
# pacer check reports each bad line with its number and exits 1 with
# nothing sent; it counts jobs per priority and key and estimates 100 jobs
# at --rate 10 as 10 s; send --dry-run sends nothing; send --strict refuses
# a bad file (exit 2, nothing sent, --out untouched) and sends all of a
# good one, from a file or stdin; --csv with quoted commas, a {id} URL
# template and a JSON body template sends the right paths and bodies;
# --define fills {BASE} in a JSON-lines file. About 1 s; loopback only.
# Usage: test_check.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"

need_jq

start_mock
total() { stats '?lists=0' | jq .total; }

# ---- pacer check: 3 bad lines of 8, nothing sent ----
{
  printf '{"url": "%s/a?job=1", "priority": "high"}\n' "$BASE"
  printf '{"url": "%s/a?job=2"}\n' "$BASE"
  printf 'not json\n'                                              # line 3
  printf '\n'
  printf '{"url": "%s/a?job=3", "key": "k"}\n' "$BASE"
  printf '{"url": "ftp://127.0.0.1/x"}\n'                          # line 6
  printf '{"url": "%s/a", "headers": {"Content-Length": "1"}}\n' "$BASE" # 7
  printf '{"url": "%s/a?job=4", "key": "k", "priority": "high"}\n' "$BASE"
} >"$T/bad.jsonl"
"$PACER" check "$T/bad.jsonl" >"$T/check.txt" 2>"$T/check.err"
rc=$?
check "check on a file with 3 bad lines of 8 exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "it reports exactly 3 bad lines" [ "$(grep -c '^line [0-9]*: ' "$T/check.txt")" -eq 3 ]
check "line 3: not JSON" grep -q '^line 3: not JSON' "$T/check.txt"
check "line 6: its scheme, as send says it" grep -q '^line 6: URL scheme not allowed' "$T/check.txt"
check "line 7: the header, as send says it" grep -q '^line 7: invalid header: "Content-Length"' "$T/check.txt"
check "the summary counts them" grep -q '^8 lines: 4 jobs, 3 bad$' "$T/check.txt"
check "by priority" grep -q '^by priority: high 2, low 2$' "$T/check.txt"
check "the server saw no request" [ "$(total)" -eq 0 ]
# send says the same of those lines
"$PACER" send -q "$T/bad.jsonl" >"$T/sent.jsonl" 2>/dev/null
check "send gives the same reasons" \
  [ "$(jq -r 'select(.error != null) | .error.message' "$T/sent.jsonl" | sort)" = "$(grep '^line' "$T/check.txt" | sort)" ]
reset

# ---- counts per priority and key, and the estimate ----
for i in $(seq 1 100); do
  if [ "$i" -le 30 ]; then p=high; else p=low; fi
  if [ "$i" -le 60 ]; then k=alpha; else k=beta; fi
  printf '{"url": "%s/e?job=%d", "priority": "%s", "key": "%s"}\n' "$BASE" "$i" "$p" "$k"
done >"$T/100.jsonl"
"$PACER" check --json --rate 10 "$T/100.jsonl" >"$T/r.json"
rc=$?
check "a good file: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "--json: 100 jobs, 0 bad" jq -e '.jobs == 100 and .bad == 0 and .errors == []' "$T/r.json"
check "per priority: 30 high, 70 low" jq -e '.priority == {"high": 30, "low": 70}' "$T/r.json"
check "per key: alpha 60, beta 40" jq -e '.keys == 2 and .top_keys == [{"key": "alpha", "jobs": 60}, {"key": "beta", "jobs": 40}]' "$T/r.json"
check "100 jobs at --rate 10: about 10 s, bound by the rate" \
  jq -e '.estimate.seconds >= 9.5 and .estimate.seconds <= 10.5 and .estimate.slowest == "rate"' "$T/r.json"
"$PACER" check --rate 10 --per-key-rate 2 "$T/100.jsonl" >"$T/r.txt"
check "--per-key-rate 2: the busiest key's 60 jobs take 30 s" \
  grep -q '^estimate: 30.0 s at least (the slowest bound: per-key-rate' "$T/r.txt"
check "still nothing sent" [ "$(total)" -eq 0 ]

# ---- send --dry-run ----
"$PACER" send --dry-run --rate 10 --out "$T/dry.out" "$T/100.jsonl" >"$T/dry.txt"
rc=$?
check "send --dry-run: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "its report" grep -q '^100 lines: 100 jobs, 0 bad$' "$T/dry.txt"
check "no --out written" [ ! -e "$T/dry.out" ]
"$PACER" send --dry-run "$T/bad.jsonl" >/dev/null
rc=$?
check "send --dry-run on bad lines: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "--dry-run sent nothing" [ "$(total)" -eq 0 ]

# ---- send --strict ----
echo keep >"$T/strict.out"
"$PACER" send --strict -q --out "$T/strict.out" "$T/bad.jsonl" 2>"$T/strict.err"
rc=$?
check "--strict refuses a bad file: exit 2 (got $rc)" [ "$rc" -eq 2 ]
check "saying each bad line" [ "$(grep -c '^pacer: line [367]: ' "$T/strict.err")" -eq 3 ]
check "and that nothing was sent" grep -q -- '--strict: 3 bad lines in .*; nothing was sent' "$T/strict.err"
check "the server saw no request" [ "$(total)" -eq 0 ]
check "--out untouched" [ "$(cat "$T/strict.out")" = keep ]
cat "$T/bad.jsonl" | "$PACER" send --strict -q - >/dev/null 2>&1
rc=$?
check "--strict from stdin refuses it too (got $rc)" [ "$rc" -eq 2 ]
check "nothing sent" [ "$(total)" -eq 0 ]
"$PACER" send --strict -q --concurrency 20 --out "$T/strict.out" "$T/100.jsonl"
rc=$?
check "--strict sends all of a good file (exit $rc)" [ "$rc" -eq 0 ]
check "100 result lines, 100 requests" \
  [ "$(wc -l <"$T/strict.out")" -eq 100 -a "$(total)" -eq 100 ]
reset
head -n 20 "$T/100.jsonl" | "$PACER" send --strict -q --concurrency 20 - >"$T/stdin.out"
rc=$?
check "--strict from stdin sends all of it (exit $rc)" \
  [ "$rc" -eq 0 -a "$(wc -l <"$T/stdin.out")" -eq 20 -a "$(total)" -eq 20 ]
reset
head -n 10 "$T/100.jsonl" >"$T/10.jsonl"
"$PACER" send --strict -q - <"$T/10.jsonl" >"$T/redir.out"
rc=$?
check "--strict with stdin redirected from a file (exit $rc)" \
  [ "$rc" -eq 0 -a "$(wc -l <"$T/redir.out")" -eq 10 -a "$(total)" -eq 10 ]
reset
if mkfifo "$T/fifo" 2>/dev/null; then
  cat "$T/10.jsonl" >"$T/fifo" &
  writer=$!
  "$PACER" send --strict -q "$T/fifo" >"$T/fifo.out"
  rc=$?
  wait "$writer"
  check "--strict reading a named pipe copies it, then sends all (exit $rc)" \
    [ "$rc" -eq 0 -a "$(wc -l <"$T/fifo.out")" -eq 10 -a "$(total)" -eq 10 ]
else
  skip "mkfifo failed: --strict on a named pipe not checked"
fi
reset

# ---- CSV, a URL template and a JSON body template ----
printf 'id,name,note,priority\r\n' >"$T/in.csv"
printf '1,"Smith, J","say ""hi""",high\r\n' >>"$T/in.csv"
printf '2,plain,"two\r\nlines",\r\n' >>"$T/in.csv"
printf '3,"a/b c",x,low\r\n' >>"$T/in.csv"
printf '{"name": "{name}", "note": "{note}", "env": "{ENV}"}\n' >"$T/body.json"
"$PACER" check --json --csv --define "BASE=$BASE" --define ENV=test \
  --url '{BASE}/users/{id}/{name}' --body-template "$T/body.json" \
  "$T/in.csv" >"$T/csv.json"
check "CSV checked: 3 jobs, the priority column counted" \
  jq -e '.jobs == 3 and .bad == 0 and .priority == {"high": 1, "low": 2}' "$T/csv.json"
"$PACER" send -q --csv --define "BASE=$BASE" --define ENV=test \
  --url '{BASE}/users/{id}/{name}' --body-template "$T/body.json" \
  "$T/in.csv" >"$T/csv.out"
rc=$?
check "CSV: 3 rows sent (exit $rc)" [ "$rc" -eq 0 -a "$(wc -l <"$T/csv.out")" -eq 3 ]
check "their ids and line numbers" \
  [ "$(jq -c -s 'map([.id, .line]) | sort' "$T/csv.out")" = '[["1",2],["2",3],["3",5]]' ]
curl -s "$BASE/__requests" >"$T/req.json"
check "the paths, each column percent-encoded (the server decodes them)" \
  [ "$(jq -c '[.requests[].path] | sort' "$T/req.json")" = '["/users/1/Smith, J","/users/2/plain","/users/3/a/b c"]' ]
check "JSON bodies with Content-Type" \
  jq -e 'all(.requests[]; .headers["Content-Type"] == "application/json")' "$T/req.json"
if command -v python3 >/dev/null; then
  fnv() { python3 -c '
import sys
h = 0xcbf29ce484222325
for c in sys.argv[1].encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)' "$1"; }
  want="$(fnv '{"name":"Smith, J","note":"say \"hi\"","env":"test"}') $(fnv '{"name":"plain","note":"two\r\nlines","env":"test"}') $(fnv '{"name":"a/b c","note":"x","env":"test"}')"
  got=$(jq -r '[.requests[] | {p: .path, h: .body_fnv1a}] | sort_by(.p) | map(.h) | join(" ")' "$T/req.json")
  check "the bodies: the template filled, quotes and the line break JSON-escaped" [ "$got" = "$want" ]
else
  skip "python3 is not installed: the bodies' hashes are not checked"
fi
"$PACER" check --csv --url 'http://127.0.0.1:1/{nme}' "$T/in.csv" >"$T/csvbad.txt"
rc=$?
check "an unknown placeholder: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "naming it, for each row" [ "$(grep -c 'unknown placeholder {nme}' "$T/csvbad.txt")" -eq 3 ]
reset

# ---- --define in a JSON-lines file ----
for i in 1 2 3; do
  printf '{"id": "d%d", "url": "{BASE}/defined/%d?v={V}", "json": {"v": "{V}"}}\n' "$i" "$i"
done >"$T/def.jsonl"
"$PACER" send -q --define "BASE=$BASE" --define V=one "$T/def.jsonl" >"$T/def.out"
rc=$?
check "--define: every job sent (exit $rc)" [ "$rc" -eq 0 -a "$(total)" -eq 3 ]
curl -s "$BASE/__requests" >"$T/req.json"
check "their URLs filled" \
  [ "$(jq -c '[.requests[] | .path + "?v=" + .query.v] | sort' "$T/req.json")" = '["/defined/1?v=one","/defined/2?v=one","/defined/3?v=one"]' ]
"$PACER" send -q "$T/def.jsonl" >"$T/nodef.out"
check "without --define the placeholders are left, and the URL refused" \
  [ "$(jq -r .error.message "$T/nodef.out" | grep -c 'line [123]: invalid URL')" -eq 3 ]
"$PACER" check --define "BASE=$BASE" "$T/def.jsonl" >"$T/def.txt"
rc=$?
check "pacer check with a missing --define names it (exit $rc)" \
  [ "$rc" -eq 1 -a "$(grep -c 'unknown placeholder {V}' "$T/def.txt")" -eq 3 ]

finish
