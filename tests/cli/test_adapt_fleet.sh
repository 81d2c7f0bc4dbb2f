#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end proof of issue #16, part 4: a fleet of NPROC `pacer send`
# processes with no --rate, sharing a limit store, against one pacer-mock
# that announces one quota for all of them (QUOTA requests per WINDOW_S s,
# 429 over it, counted per server: the fleet's requests together). What one
# process learns from the announcements (the quota's pace, a pause when it
# is exhausted) is written to the store and every process obeys it, the
# last one of them started two windows late, so:
#   - after the first window at most 1% of the fleet's requests refused;
#   - every job ends with one result line, every process says the store
#     was connected; and, lest a fleet held far below its quota pass, the
#     whole windows use at least 85% of the quota and 99% of jobs succeed.
# Once over shared memory (X-RateLimit-* announced), once over a
# redis-server the test starts on a free loopback port (the IETF fields;
# skipped, with a message, without redis-server). With COMPARE=1 (the
# last argument), once more with no store, each process adapting alone,
# for comparison: judged only on having run.
#
# Usage: test_adapt_fleet.sh PACER PACER_MOCK [NPROC [JOBS [QUOTA [WINDOW_S
#        [COMPARE]]]]]
# CI: 4 processes x 50 jobs (25 in the sanitizer builds) at 20 per 2 s, the
# scale of cli.adapt: 200 jobs, ten windows, about 20 s a run. The issue's
# quota (100 per 10 s): test_adapt_fleet.sh PACER MOCK 4 500 100 10 1.
set -u
PACER=$1
MOCK=$2
NPROC=${3:-4}
JOBS=${4:-50}
QUOTA=${5:-20}
WINDOW=${6:-2}
COMPARE=${7:-0}
. "$(dirname "$0")/lib.sh"
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac
SHM_NAME="pacer-test-fleet-$$-$RANDOM"
trap 'rm -f "/dev/shm/pacer-$SHM_NAME"; cleanup' EXIT
TOTAL=$((NPROC * JOBS))
ROWS=()

# run LABEL FORM [--shared URL]: a new pacer-mock announcing FORM, the
# NPROC processes at once, then the checks (judged unless no store).
run() {
  local label=$1 form=$2 pids=() rc=0 p
  shift 2
  start_mock --quota "$QUOTA" --quota-window-s "$WINDOW" --announce "$form"
  for p in $(seq 1 "$NPROC"); do
    for i in $(seq 1 "$JOBS"); do
      printf '{"id": "%d-%d", "url": "%s/a?job=%d-%d"}\n' "$p" "$i" "$BASE" "$p" "$i"
    done >"$T/$label-in$p.jsonl"
  done
  # At the quota's pace, plus 60 s and the sanitizers' slowness.
  local limit=$((TOTAL * WINDOW / QUOTA * SCALE + 60))
  for p in $(seq 1 "$NPROC"); do
    # The last process joins late, two windows in, when the others have
    # learned the quota: it must obey them before any answer of its own.
    [ "$p" -lt "$NPROC" ] || [ "$NPROC" -lt 2 ] || sleep $((2 * WINDOW))
    timeout "$limit" "$PACER" send "$@" -q --stats-json "$T/$label-stats$p.json" \
      --out "$T/$label-out$p.jsonl" "$T/$label-in$p.jsonl" 2>"$T/$label-err$p.log" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid"
    local r=$?
    [ "$r" -le 1 ] || rc=$r # 1: some job failed (a refusal not retried)
  done
  stats >"$T/$label-score.json"
  [ -z "${KEEP_DIR:-}" ] || cp "$T/$label-score.json" "$T/$label"-stats*.json "$KEEP_DIR/"
  local n ref lines okj out after aref acc full thr apct
  n=$(jq .total "$T/$label-score.json")
  ref=$(jq .refused "$T/$label-score.json")
  lines=$(cat "$T/$label"-out*.jsonl | wc -l)
  okj=$(cat "$T/$label"-out*.jsonl | jq -s 'map(select(.status == 200)) | length')
  # After the first window: refused of all arrivals; accepted in the whole
  # windows (from the second to the one before the last).
  out=$(jq -r --argjson w "$WINDOW" '
    [.arrivals[] | {t: .t_ms, r: (.refused != null)}] as $a
    | ($a | map(select(.t >= $w * 1000))) as $after
    | ($a | map(select(.r | not) | .t / 1000 / $w | floor)) as $win
    | ($win | max // 0) as $last
    | "\($after | length) \($after | map(select(.r)) | length) \($win | map(select(. >= 1 and . < $last)) | length) \($last - 1)"' \
    "$T/$label-score.json")
  read -r after aref acc full <<<"$out"
  thr=$(awk "BEGIN { printf \"%.3f\", ($full > 0 ? $acc / ($full * $QUOTA) : 0) }")
  apct=$(awk "BEGIN { printf \"%.2f\", ($after > 0 ? 100 * $aref / $after : 0) }")
  echo "     $label: $NPROC processes, $n requests, $ref refused; after the first window" \
    "$aref of $after refused ($apct%); $acc accepted in $full whole windows of $QUOTA" \
    "($thr of the quota); $okj of $TOTAL jobs succeeded"
  ROWS+=("$(printf '%-16s %8d %8d %8s%% %8d %7s' "$label" "$n" "$ref" "$apct" "$okj" "$thr")")
  check "$label: every process ran to the end (worst exit $rc) with one result line per job ($lines of $TOTAL)" \
    [ "$rc" -le 1 -a "$lines" -eq "$TOTAL" ]
  if [ "$rc" -gt 1 ]; then cat "$T/$label"-err*.log; fi
  [ $# -gt 0 ] || return 0 # no store: for comparison only
  check "$label: at least 2 whole windows after the first to judge ($full)" [ "$full" -ge 2 ]
  check "$label: after the first window at most 1% refused ($aref of $after)" \
    awk "BEGIN { exit !($aref <= 0.01 * $after) }"
  # Not asked by the issue, but a fleet held far below its quota (a stale
  # low rate, everyone at the floor) would pass the refusals: the whole
  # windows use at least 85% of it, and the jobs succeed.
  check "$label: the whole windows used $thr of the quota (>= 0.85)" \
    awk "BEGIN { exit !($thr >= 0.85) }"
  check "$label: at least 99% of the jobs succeeded ($okj of $TOTAL)" \
    awk "BEGIN { exit !($okj >= 0.99 * $TOTAL) }"
  check "$label: every process says the store was connected" \
    [ "$(cat "$T/$label"-stats*.json | jq -s 'map(select(.shared.state == "connected")) | length')" -eq "$NPROC" ]
}

run shm x-ratelimit --shared "shm:$SHM_NAME"
if ! command -v redis-server >/dev/null; then
  skip "redis-server is not installed: the Redis run did not run"
elif ! find_redis; then
  bad "redis-server did not start on a free loopback port"
else
  run redis ietf --shared "redis://127.0.0.1:$RPORT/0?name=fleet-$$-$RANDOM"
  stop_redis
fi
[ "$COMPARE" = 1 ] && run no-store x-ratelimit

echo
echo "     Side by side ($NPROC processes x $JOBS jobs, $QUOTA per $WINDOW s announced, no --rate):"
printf '     %-16s %8s %8s %9s %8s %7s\n' run requests refused "after w1" "jobs ok" quota
for r in "${ROWS[@]}"; do
  echo "     $r"
done
finish
