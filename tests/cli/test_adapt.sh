#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end proof of issue #16, parts 1 and 2: `pacer send` with no --rate
# against pacer-mock's three servers, each enforcing its limit strictly and
# counting what it refused (mock_server/README.md, "The server's limits"):
#   - announcing X-RateLimit-*: a quota of QUOTA per WINDOW_S s, 429 over it;
#   - announcing the IETF fields (RateLimit-Policy / RateLimit): the same;
#   - silent: 50/s (burst 50), bare 429s, no rate-limit fields at all.
# Judged with adaptation on (the default):
#   - announcing: after the first window, at most 1% of requests refused,
#     and the whole windows after the first accept at least 95% of QUOTA;
#   - silent: at least 85% of 50/s accepted on average after 10 s, at most
#     5% of all requests refused.
# Then each again with --adapt off, printed side by side: those runs are
# for comparison (the refusals adaptation avoids) and are judged only on
# having run (one result line per job).
#
# Usage: test_adapt.sh PACER PACER_MOCK [JOBS [QUOTA [WINDOW_S [SILENT_JOBS
#        [OUT_DIR]]]]]
# The issue's own configuration (2,000 jobs per run, 100 per 10 s; about
# 200 s per announcing run and 40 s for the silent one, 8 minutes in all):
#   test_adapt.sh PACER PACER_MOCK 2000 100 10 2000 [OUT_DIR]
# CI runs it scaled down (tests/CMakeLists.txt): 200 jobs at 20 per 2 s
# (the same 10/s, ten windows of a fifth the size, 20 s per run) and 2,000
# jobs against the silent server (40 s, 30 s of it judged); the sanitizer
# builds 100 jobs (five windows) and the silent server at 100/s (20 s). A window of 2 s
# is the harder case: the reset is announced in whole seconds, so the
# uncertainty is half the window rather than a tenth of it.
# OUT_DIR (optional) keeps each run's arrivals ("t_ms refused" lines) and a
# summary.tsv for bench/adapt_chart.py.
set -u
PACER=$1
MOCK=$2
JOBS=${3:-200}
QUOTA=${4:-20}
WINDOW=${5:-2}
SJOBS=${6:-1000}
OUT_DIR=${7:-}
. "$(dirname "$0")/lib.sh"
# Slack of time bounds: 1, more under the sanitizers (set by CMake; whole
# numbers only here).
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac
# The silent server's limit: the issue's 50/s, or ADAPT_SILENT_RATE (the
# sanitizer builds' 100/s: the same 2,000 jobs in half the time; the first
# burst's refusals are a count of requests in flight, not of time).
SILENT_RATE=${ADAPT_SILENT_RATE:-50}
[ -n "$OUT_DIR" ] && mkdir -p "$OUT_DIR"
ROWS=()

# jobs N FILE: N jobs to this server, one path for all (one key).
jobs() {
  local i
  for i in $(seq 1 "$1"); do
    printf '{"id": %d, "url": "%s/a?job=%d"}\n' "$i" "$BASE" "$i"
  done >"$2"
}

# run LABEL ADAPT JOBS LIMIT_S: pacer send on a fresh score, at most LIMIT_S
# seconds; sets RC, N (requests), REF (refused), LINES (result lines), OKJ
# (jobs that succeeded), SPAN (first to last arrival, s).
run() {
  local label=$1 adapt=$2 n=$3 limit=$4
  jobs "$n" "$T/$label.jsonl"
  reset
  timeout "$limit" "$PACER" send --adapt "$adapt" -q \
    --stats-json "$T/$label-stats.json" --out "$T/$label-out.jsonl" \
    "$T/$label.jsonl" 2>"$T/$label-err.log"
  RC=$?
  stats >"$T/$label-score.json"
  N=$(jq .total "$T/$label-score.json")
  REF=$(jq .refused "$T/$label-score.json")
  LINES=$(wc -l <"$T/$label-out.jsonl")
  OKJ=$(jq -s 'map(select(.status == 200)) | length' "$T/$label-out.jsonl")
  SPAN=$(jq '[.arrivals[].t_ms] | if length > 0 then (max - min) / 1000 else 0 end' \
    "$T/$label-score.json")
  if [ -n "$OUT_DIR" ]; then
    jq -r '.arrivals[] | "\(.t_ms) \(if .refused then 1 else 0 end)"' \
      "$T/$label-score.json" >"$OUT_DIR/$label.arrivals"
  fi
  check "$label: pacer send ran to the end (exit $RC) with one result line per job ($LINES of $n)" \
    [ "$RC" -le 1 -a "$LINES" -eq "$n" ]
  if [ "$RC" -gt 1 ]; then cat "$T/$label-err.log"; fi
}

# row LABEL JUDGED: one line of the side-by-side table.
row() {
  local pct
  pct=$(awk "BEGIN { printf \"%.1f\", ($N > 0 ? 100 * $REF / $N : 0) }")
  ROWS+=("$(printf '%-22s %8d %8d %6s%% %8d %8.1f  %s' "$1" "$N" "$REF" "$pct" "$OKJ" "$SPAN" "$2")")
}

# ---- announcing servers ----
# announced FORM LABEL: adaptation on, judged, then off.
announced() {
  local form=$1 label=$2 out after aref acc full thr
  start_mock --quota "$QUOTA" --quota-window-s "$WINDOW" --announce "$form"
  # At the quota's pace, plus 60 s and the sanitizers' slowness.
  run "$label-on" on "$JOBS" $((JOBS * WINDOW / QUOTA * SCALE + 60))
  # After the first window: refused of all arrivals; accepted in the whole
  # windows (from the second to the one before the last, which the jobs
  # running out leave part-empty).
  out=$(jq -r --argjson w "$WINDOW" '
    [.arrivals[] | {t: .t_ms, r: (.refused != null)}] as $a
    | ($a | map(select(.t >= $w * 1000))) as $after
    | ($a | map(select(.r | not) | .t / 1000 / $w | floor)) as $win
    | ($win | max) as $last
    | "\($after | length) \($after | map(select(.r)) | length) \($win | map(select(. >= 1 and . < $last)) | length) \($last - 1)"' \
    "$T/$label-on-score.json")
  read -r after aref acc full <<<"$out"
  thr=$(awk "BEGIN { printf \"%.3f\", ($full > 0 ? $acc / ($full * $QUOTA) : 0) }")
  local apct
  apct=$(awk "BEGIN { printf \"%.2f\", ($after > 0 ? 100 * $aref / $after : 0) }")
  echo "     $label on: $N requests, $REF refused; after the first window $aref of $after refused ($apct%);" \
    "$acc accepted in $full whole windows of $QUOTA ($thr of the quota); $OKJ of $JOBS jobs succeeded"
  check "$label: at least 2 whole windows after the first to judge ($full)" [ "$full" -ge 2 ]
  check "$label: after the first window at most 1% refused ($aref of $after)" \
    awk "BEGIN { exit !($aref <= 0.01 * $after) }"
  check "$label: throughput $thr >= 0.95 of the quota ($acc in $full windows of $QUOTA)" \
    awk "BEGIN { exit !($thr >= 0.95) }"
  row "$label on" "after window 1: $apct% refused, $thr of quota"
  [ -n "$OUT_DIR" ] && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label-on" "$N" "$REF" \
    "$OKJ" "$SPAN" "$after" "$aref" "$acc" "$full" >>"$OUT_DIR/summary.tsv"
  # Off: pacer runs at its concurrency, refused jobs retried by backoff.
  run "$label-off" off "$JOBS" $((60 * SCALE + 60))
  echo "     $label off: $N requests, $REF refused, $OKJ of $JOBS jobs succeeded in ${SPAN} s"
  row "$label off" "not judged"
  [ -n "$OUT_DIR" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$label-off" "$N" "$REF" "$OKJ" "$SPAN" \
    >>"$OUT_DIR/summary.tsv"
}

announced x-ratelimit x-ratelimit
announced ietf ietf

# ---- silent server ----
start_mock --limit "$SILENT_RATE" --burst "$SILENT_RATE" --limit-silent
run silent-on on "$SJOBS" $((SJOBS / SILENT_RATE * SCALE + 60))
# Accepted per second after 10 s, to the last arrival; refused of all.
out=$(jq -r '
  [.arrivals[] | select(.t_ms >= 10000)] as $a
  | ($a | map(.t_ms) | max // 10000) as $stop
  | "\($a | map(select(.refused == null)) | length) \(($stop - 10000) / 1000) \($a | length) \($a | map(select(.refused)) | length)"' \
  "$T/silent-on-score.json")
read -r sacc sspan safter saref <<<"$out"
srate=$(awk "BEGIN { printf \"%.1f\", ($sspan > 0 ? $sacc / $sspan : 0) }")
spct=$(awk "BEGIN { printf \"%.2f\", ($N > 0 ? 100 * $REF / $N : 0) }")
echo "     silent on: $N requests, $REF refused ($spct%); after 10 s $sacc accepted in $sspan s" \
  "($srate/s), $saref of $safter refused; $OKJ of $SJOBS jobs succeeded"
check "silent: at least 5 s judged after the first 10 ($sspan s)" \
  awk "BEGIN { exit !($sspan >= 5) }"
check "silent: $srate/s accepted after 10 s >= 85% of $SILENT_RATE/s" \
  awk "BEGIN { exit !($srate >= 0.85 * $SILENT_RATE) }"
check "silent: at most 5% of all requests refused ($REF of $N)" \
  awk "BEGIN { exit !($REF <= 0.05 * $N) }"
row "silent on" "after 10 s: $srate/s, $saref of $safter refused"
[ -n "$OUT_DIR" ] && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' silent-on "$N" "$REF" "$OKJ" \
  "$SPAN" "$safter" "$saref" "$sacc" "$sspan" >>"$OUT_DIR/summary.tsv"
run silent-off off "$SJOBS" $((60 * SCALE + 60))
echo "     silent off: $N requests, $REF refused, $OKJ of $SJOBS jobs succeeded in ${SPAN} s"
row "silent off" "not judged"
[ -n "$OUT_DIR" ] && printf '%s\t%s\t%s\t%s\t%s\n' silent-off "$N" "$REF" "$OKJ" "$SPAN" \
  >>"$OUT_DIR/summary.tsv"

echo
echo "     Side by side ($JOBS jobs at $QUOTA per $WINDOW s announced, $SJOBS at $SILENT_RATE/s silent; no --rate):"
printf '     %-22s %8s %8s %7s %8s %8s  %s\n' run requests refused "" "jobs ok" "span s" judged
for r in "${ROWS[@]}"; do
  echo "     $r"
done
finish
