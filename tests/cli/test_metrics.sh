#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end tests of the command's metrics against a pacer-mock on a free
# loopback port (issue #17's proof): a scrape of --metrics-listen taken
# mid-run passes `promtool check metrics` (Debian's prometheus package,
# which scripts/deps installs: required, not skipped), is served with the
# exposition's content type, caps the per-key series and keeps histograms
# cumulative up to +Inf = _count; other paths get 404 and other methods
# 405; --metrics-file is replaced whole (no temporary file left) and holds
# the final figures after the run; bad addresses, a port in use and a
# directory that cannot take the file are usage errors before anything is
# sent. 300 jobs at 50/s (about 6 s), then two short runs; loopback only.
# Usage: test_metrics.sh PACER PACER_MOCK
set -u
PACER=$1
MOCK=$2
. "$(dirname "$0")/lib.sh"
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac

if ! command -v promtool >/dev/null; then
  bad "promtool is not installed (Debian package prometheus; scripts/deps installs it)"
  finish
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || {
    bad "$tool is not installed"
    finish
  }
done

start_mock

# ---- addresses refused before anything is sent ----
echo "{\"url\": \"$BASE/never\"}" >"$T/one.jsonl"
for addr in localhost:9464 127.0.0.1 127.0.0.1:65536 ::1:9464 '[::1]' \
  '127.0.0.1:09464' '127.0.0.1:94a' '1.2.3:80'; do
  "$PACER" send -q --metrics-listen "$addr" "$T/one.jsonl" >/dev/null 2>"$T/addr.err"
  rc=$?
  check "--metrics-listen '$addr' is a usage error (got $rc)" [ "$rc" -eq 2 ]
done
check "the message names the flag and the form" \
  grep -q -- "--metrics-listen: '1.2.3:80' is not ADDRESS:PORT" "$T/addr.err"
"$PACER" send -q --metrics-listen "127.0.0.1:$PORT" "$T/one.jsonl" >/dev/null 2>"$T/inuse.err"
rc=$?
check "a port in use is a usage error (got $rc)" [ "$rc" -eq 2 ]
check "saying why" grep -q "127.0.0.1:$PORT: Address already in use" "$T/inuse.err"
"$PACER" send -q --metrics-file "$T/no/such/dir/m.prom" "$T/one.jsonl" >/dev/null 2>"$T/file.err"
rc=$?
check "a --metrics-file that cannot be written is a usage error (got $rc)" [ "$rc" -eq 2 ]
check "saying why" grep -q "no/such/dir/m.prom.*No such file or directory" "$T/file.err"
check "and nothing was sent" [ "$(stats | jq .total)" -eq 0 ]

# ---- a scrape mid-run ----
# 300 jobs over 12 keys at 50/s, 5 keys with series of their own.
for i in $(seq 1 300); do
  printf '{"url": "%s/m?job=%d&latency_ms=20", "key": "host-%d"}\n' "$BASE" "$i" $((i % 12))
done >"$T/jobs.jsonl"
mkdir -p "$T/textfile"
"$PACER" send "$T/jobs.jsonl" --rate 50/s --out "$T/out.jsonl" \
  --metrics-listen 127.0.0.1:0 --metrics-keys 5 \
  --metrics-file "$T/textfile/pacer.prom" --metrics-interval 100 2>"$T/run.err" &
PID=$!
MPORT=
for _ in $(seq 1 $((100 * SCALE))); do
  MPORT=$(sed -n 's|^pacer: metrics at http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/run.err")
  [ -n "$MPORT" ] && break
  sleep 0.05
done
check "the command says where it serves (port 0: a free one)" [ -n "$MPORT" ]
URL="http://127.0.0.1:${MPORT:-1}/metrics"
# Mid-run: some jobs ended, not all.
ended=0
for _ in $(seq 1 $((100 * SCALE))); do
  curl -s -D "$T/headers" -o "$T/scrape.txt" "$URL"
  ended=$(awk '/^pacer_jobs_ended_total/ {n += $2} END {print n + 0}' "$T/scrape.txt")
  [ "$ended" -ge 20 ] && break
  sleep 0.05
done
check "a scrape taken mid-run ($ended of 300 ended)" [ "$ended" -ge 20 -a "$ended" -lt 300 ]
if promtool check metrics <"$T/scrape.txt" >"$T/promtool.out" 2>&1; then
  ok "promtool check metrics passes on the mid-run scrape"
else
  bad "promtool check metrics passes on the mid-run scrape: $(cat "$T/promtool.out")"
fi
check "served as text/plain; version=0.0.4; charset=utf-8" \
  grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$T/headers"
check "jobs submitted, at least those ended" \
  awk -v e="$ended" '/^pacer_jobs_submitted_total / {exit !($2 >= e && $2 <= 300)}' "$T/scrape.txt"
check "requests in flight, at most the cap" \
  awk '/^pacer_in_flight_requests / {f = $2} /^pacer_concurrency_limit / {c = $2} END {exit !(c == 50 && f <= c)}' "$T/scrape.txt"
check "5 keys with series of their own, plus key=\"~other\"" \
  [ "$(grep -c '^pacer_key_queued_jobs{' "$T/scrape.txt")" -eq 6 ]
check "the other 7 keys summed there" grep -q '^pacer_other_keys 7$' "$T/scrape.txt"
# No job is retried here, so the keys' queues (own series and the summed
# rest) hold the whole queue, and their requests all those in flight.
check "per-key queued jobs, ~other included, sum to the queue" \
  awk '/^pacer_key_queued_jobs\{/ {k += $2} /^pacer_key_queued_jobs\{key="~other"\}/ {o = $2}
    /^pacer_queued_jobs\{/ {q += $2} END {exit !(o > 0 && k == q)}' "$T/scrape.txt"
check "per-key requests in flight sum to those in flight" \
  awk '/^pacer_key_in_flight_requests\{/ {k += $2} /^pacer_in_flight_requests / {f = $2}
    END {exit !(k == f)}' "$T/scrape.txt"
# Every histogram (2 metrics x 2 priorities): buckets never decrease, and
# +Inf equals _count.
hist_ok() {
  awk '
    /_bucket\{/ {
      split($1, a, ",le=")
      s = a[1]
      if (s in last && $2 < last[s]) bad = 1
      last[s] = $2
      if ($1 ~ /le="\+Inf"/) inf[s] = $2
    }
    /_count\{/ { sub(/_count/, "_bucket", $1); sub(/\}$/, "", $1); cnt[$1] = $2 }
    END {
      n = 0
      for (s in inf) { n++; if (!(s in cnt) || cnt[s] != inf[s]) bad = 1 }
      exit bad || n != 4
    }' "$1"
}
check "histogram buckets are cumulative and +Inf = _count" hist_ok "$T/scrape.txt"
check "queue waits were observed" \
  awk '/^pacer_queue_wait_seconds_count\{priority="low"\}/ {exit !($2 > 0)}' "$T/scrape.txt"
check "another path is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" = 404 ]
check "another method is 405, with Allow" \
  bash -c "curl -s -i -X POST '$URL' | tr -d '\r' | grep -q '^Allow: GET, HEAD$'"
check "HEAD is answered" [ "$(curl -s -I -o /dev/null -w '%{http_code}' "$URL")" = 200 ]
check "the textfile is there mid-run and promtool takes it" \
  promtool check metrics <"$T/textfile/pacer.prom"
wait "$PID"
rc=$?
check "the run succeeded (got $rc)" [ "$rc" -eq 0 ]
check "300 result lines" [ "$(wc -l <"$T/out.jsonl")" -eq 300 ]
check "the server is gone with the run" bash -c "! curl -s -m 2 '$URL' >/dev/null"
check "the textfile holds the final figures" \
  grep -q '^pacer_jobs_ended_total{outcome="succeeded"} 300$' "$T/textfile/pacer.prom"
check "and promtool takes it" promtool check metrics <"$T/textfile/pacer.prom"
check "no temporary file is left beside it" \
  [ "$(ls -A "$T/textfile")" = pacer.prom ]
check "histograms of the final file too" hist_ok "$T/textfile/pacer.prom"

# ---- IPv6 loopback, where there is one ----
for i in $(seq 1 20); do echo "{\"url\": \"$BASE/v6?job=v$i&latency_ms=50\"}"; done >"$T/v6.jsonl"
"$PACER" send "$T/v6.jsonl" --rate 10/s --out "$T/v6.out" --metrics-listen '[::1]:0' 2>"$T/v6.err" &
PID=$!
V6=
for _ in $(seq 1 $((100 * SCALE))); do
  V6=$(sed -n 's|^pacer: metrics at http://\[::1\]:\([0-9]*\)/metrics$|\1|p' "$T/v6.err")
  [ -n "$V6" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.05
done
if [ -n "$V6" ]; then
  curl -s -g -o "$T/v6.txt" "http://[::1]:$V6/metrics"
  check "[::1]:0 serves the metrics over IPv6" promtool check metrics <"$T/v6.txt"
  wait "$PID"
  check "and the run ends well" [ $? -eq 0 ]
else
  wait "$PID"
  if grep -q "Cannot assign requested address\|Address family not supported" "$T/v6.err"; then
    skip "no IPv6 loopback here: $(head -1 "$T/v6.err")"
  else
    bad "[::1]:0 serves the metrics: $(head -3 "$T/v6.err")"
  fi
fi

finish
