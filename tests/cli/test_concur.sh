#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end proof of concurrency by latency (issue #16, part 3): a
# pacer-mock whose latency is L up to 16 requests in flight and L x n / 16
# above, and `pacer send --concurrency 64 --adaptive-concurrency 1:64` over
# a few thousand jobs: the key's settled cap (from --stats-json) is within
# 12..24 and p99 latency within 2x the unloaded one. The same run without
# adaptation is printed for comparison, and the flag's parsing is checked.
# Usage: test_concur.sh PACER PACER_MOCK [JOBS [LATENCY_MS]]
set -u
PACER=$1
MOCK=$2
JOBS=${3:-3000}
L=${4:-20}
KNEE=16
. "$(dirname "$0")/lib.sh"
# Slack of time bounds: 1, more under the sanitizers (set by CMake; whole
# numbers only here).
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac

# Delays suspend the mock's connections, so its 2 threads are no limit on
# the requests in flight there; 4 keep its answers prompt all the same.
start_mock --threads 4 --latency-ms "$L" --latency-knee "$KNEE"

mkjobs() { # mkjobs N TAG: N job lines on one key (the mock's host)
  for i in $(seq 1 "$1"); do
    printf '{"id": %d, "url": "%s/c?job=%s-%d"}\n' "$i" "$BASE" "$2" "$i"
  done >"$T/$2.jsonl"
}
# The p99 of the transfer latency, in microseconds, of a --stats-json file
# (the priority that has jobs).
p99() { jq '[.latency_us.transfer[] | select(.count > 0) | .p99] | max' "$1"; }

# ---- the flag ----
mkjobs 1 flag
for bad in 0:5 5:4 1:1000001 4 x:y ""; do
  "$PACER" send -q --adaptive-concurrency "$bad" "$T/flag.jsonl" >/dev/null 2>"$T/usage.err"
  rc=$?
  check "--adaptive-concurrency '$bad' is a usage error (exit $rc)" \
    bash -c "[ $rc -eq 2 ] && grep -q -- --adaptive-concurrency '$T/usage.err'"
done
check "--help shows it, off by default" \
  bash -c "'$PACER' --help | grep -A4 -- '--adaptive-concurrency MIN:MAX' | grep -q '\[off\]'"
mkjobs 60 config
echo '{"adaptive-concurrency": "2:9", "concurrency": 64}' >"$T/c.json"
"$PACER" send -q --config "$T/c.json" --stats-json "$T/config.stats" "$T/config.jsonl" >/dev/null
cap=$(jq '.keys[0].concurrency.cap' "$T/config.stats")
check "from --config: the key's cap is shown, within 2..9 (got $cap)" \
  bash -c "[ '$cap' -ge 2 ] && [ '$cap' -le 9 ]"
"$PACER" send -q --config "$T/c.json" --adaptive-concurrency off \
  --stats-json "$T/off.stats" "$T/config.jsonl" >/dev/null
check "off on the command line overrides it: no cap shown" \
  jq -e '.keys[0] | has("concurrency") | not' "$T/off.stats"

# ---- unloaded: 8 in flight, half the knee ----
mkjobs 400 unloaded
reset
"$PACER" send -q --concurrency 8 --stats-json "$T/unloaded.stats" "$T/unloaded.jsonl" >/dev/null
unloaded=$(p99 "$T/unloaded.stats")
echo "# unloaded (--concurrency 8, L = $L ms, knee $KNEE): p99 ${unloaded} us"

# run TAG FLAGS...: JOBS jobs at --concurrency 64; sets R_RC, R_MS, R_P99
# (us), R_CAP (the key's cap at the end, 0: none) and prints a line of
# figures, with the server's own view of the second half of the run: the
# delays it gave (L up to the knee; L x in-flight / knee above).
run() {
  local tag=$1
  shift
  mkjobs "$JOBS" "$tag"
  reset
  local t0 t1
  t0=$(date +%s%N)
  "$PACER" send -q --concurrency 64 "$@" --stats-json "$T/$tag.stats" \
    "$T/$tag.jsonl" >"$T/$tag.out"
  R_RC=$?
  t1=$(date +%s%N)
  stats >"$T/$tag.mock"
  R_MS=$(((t1 - t0) / 1000000))
  R_P99=$(p99 "$T/$tag.stats")
  R_CAP=$(jq '.keys[0].concurrency.cap // 0' "$T/$tag.stats")
  local peak delay
  peak=$(jq .peak_concurrency "$T/$tag.mock")
  delay=$(jq -r '[.arrivals[] | .delay_ms] | (length / 2 | floor) as $h
                 | .[$h:] | sort
                 | "\(.[length / 2 | floor])/\(.[length * 9 / 10 | floor])"' \
    "$T/$tag.mock")
  printf '# %-8s %5d jobs in %5d ms (%4d/s): p99 %6d us, cap %2s, server: peak in flight %2s, delay p50/p90 %s ms in the second half\n' \
    "$tag" "$JOBS" "$R_MS" $((JOBS * 1000 / (R_MS > 0 ? R_MS : 1))) "$R_P99" \
    "$R_CAP" "$peak" "$delay"
}

# ---- without adaptation, for comparison ----
run fixed
fixed_ms=$R_MS fixed_p99=$R_P99
check "without adaptation every job succeeded (exit $R_RC)" [ "$R_RC" -eq 0 ]

# ---- adaptive ----
run adaptive --adaptive-concurrency 1:64
adaptive_ms=$R_MS adaptive_p99=$R_P99 adaptive_cap=$R_CAP
check "with adaptation every job succeeded (exit $R_RC)" [ "$R_RC" -eq 0 ]
check "the settled cap is within 12..24 (got $adaptive_cap)" \
  bash -c "[ '$adaptive_cap' -ge 12 ] && [ '$adaptive_cap' -le 24 ]"
# The bound is a time: under the sanitizers (SCALE > 1) the client's own
# overhead grows, so it gets L / 2 ms more per unit of SCALE above 1.
bound=$((2 * unloaded + (SCALE - 1) * L * 500))
check "p99 latency $adaptive_p99 us is within 2x the unloaded $unloaded us (bound $bound us)" \
  [ "$adaptive_p99" -le "$bound" ]
echo "# p99 / L: $((adaptive_p99 * 100 / (L * 1000)))% with adaptation, $((fixed_p99 * 100 / (L * 1000)))% without; p99 / unloaded p99: $((adaptive_p99 * 100 / unloaded))%"
check "and below the p99 without adaptation ($fixed_p99 us)" \
  [ "$adaptive_p99" -lt "$fixed_p99" ]
# Past the knee the server's throughput is knee / L whatever the load, so
# a cap above it buys nothing: adaptation keeps most of it (its ramp from 1
# costs a little).
check "throughput with adaptation is at least 3/4 of without ($adaptive_ms vs $fixed_ms ms)" \
  [ $((adaptive_ms * 3)) -le $((fixed_ms * 4 * SCALE)) ]

finish
