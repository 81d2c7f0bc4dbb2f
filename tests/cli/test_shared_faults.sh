#!/bin/bash
# SPDX-License-Identifier: MIT
# End-to-end test of shared limits when things go wrong, each part through
# `pacer send --shared URL` against one pacer-mock on loopback:
# 1. Pause: 3 processes share a per-key rate (once over shm:NAME, once over
#    Redis), each with jobs for keys A and B; one job of key A in one
#    process is answered 429 with Retry-After: 2 exactly once (pacer-mock's
#    fail_first=1 for that job id): from that arrival no request of key A,
#    from any process, reaches the server for 2 s, beyond those already
#    under way; key B keeps being served; every job ends with one line.
# 2. Redis killed (SIGKILL) mid-run and restarted 3 s later on the same
#    port, default policy (hold): nothing arrives while it is down beyond
#    the requests already under way, sending resumes within 1 s of Redis
#    answering again, every job is answered and has one result line, and
#    each process counts store errors and the disconnect, grants nothing
#    from a fallback and ends connected.
# 3. One of 4 processes sharing shm:NAME at 200/s is SIGKILLed mid-run: the
#    other 3 finish every job, a process started after the kill on the same
#    segment runs too, and every 1-s window the server saw over the whole
#    run stays within rate + burst + slack (plus what a silence of the
#    server held back), the aggregate after the kill within 2% of the rate.
# The halves over Redis are skipped, with a message, without redis-server.
# Times are read on pacer-mock's clock: the script marks an event (a kill,
# a restart) with a request to /mark?job=EVENT just before it, which every
# count of jobs below leaves out.
# Usage: test_shared_faults.sh PACER PACER_MOCK (with KEEP_DIR=DIR in the
# environment, pacer-mock's score of each part is kept there).
set -u
PACER=$1
MOCK=$2
# The server above everything else (as root; lib.sh), so that its clock
# reads arrivals when they arrive.
MOCK_NICE=-10
. "$(dirname "$0")/lib.sh"
# Slack of time bounds: 1, more under the sanitizers (set by CMake; whole
# numbers only here).
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac
SHM_NAME="pacer-test-faults-$$-$RANDOM"
PACER_PIDS=()
# Every pacer this script started and that may still run (a failed part).
stop_pacers() {
  local pid
  for pid in "${PACER_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  PACER_PIDS=()
}
# Ours (the processes and the segments), then lib.sh's cleanup (the servers).
trap 'stop_pacers; rm -f /dev/shm/pacer-"$SHM_NAME"-*; cleanup' EXIT

# keep NAME: with KEEP_DIR set, the score saved as $KEEP_DIR/NAME.json (to
# look into a failure).
keep() { [ -z "${KEEP_DIR:-}" ] || cp "$T/s.json" "$KEEP_DIR/$1.json"; }
# mark EVENT: an arrival at pacer-mock that dates EVENT on its clock.
mark() { curl -s "$BASE/mark?job=$1" >/dev/null; }
# t_of EVENT: the mark's arrival time (ms) in the saved score $T/s.json.
t_of() { jq ".arrivals[] | select(.job == \"$1\") | .t_ms" "$T/s.json"; }
# wait_total N: until the server has seen N arrivals (at most 60 s).
wait_total() {
  for _ in $(seq 1 600); do
    [ "$(stats '?lists=0' | jq .total)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
# run_pacer NAME ARGS...: one `pacer send` in the background, its results
# in $T/NAME.out, its stats in $T/NAME.stats, its stderr in $T/NAME.err; its
# pid appended to PACER_PIDS. At the server's priority, unlike
# test_shared.sh: at these rates the processes cost the server little, and
# on a machine busy with other work a lowered priority stalled one of them
# for over a second (measured under two CPU-bound processes).
run_pacer() {
  local name=$1
  shift
  "$PACER" send -q --stats-json "$T/$name.stats" --out "$T/$name.out" \
    "$@" 2>"$T/$name.err" &
  PACER_PIDS+=($!)
}
# wait_pacers: waits for every pacer in PACER_PIDS; the number that did not
# exit 0 in NBAD.
wait_pacers() {
  NBAD=0
  local pid
  for pid in "${PACER_PIDS[@]}"; do
    wait "$pid" || NBAD=$((NBAD + 1))
  done
  PACER_PIDS=()
}
# lines_ok NAME SHARD: the results hold one line per job of SHARD, each id
# once and no other.
lines_ok() {
  diff <(jq -r .id "$T/$1.out" | sort) <(jq -r .id "$2" | sort) >/dev/null
}
# answered_once SHARD: the server answered 200 exactly once to each job of
# SHARD (a job that was retried has one 200 among its arrivals).
answered_once() {
  diff <(jq -r '.arrivals[] | select(.status == 200) | .job' "$T/s.json" |
    grep -Fxf <(jq -r .id "$1") | sort) <(jq -r .id "$1" | sort) >/dev/null
}

# ---- 1. a Retry-After pause is shared ----
# 3 processes, each with NA jobs of key A (path /a) and NB = 2 x NA of key
# B (/b), lines alternating while both last, at a shared --per-key-rate of
# 20/s: key A needs 4.5 s of tokens, key B 9 s. Process 1's 10th job of key
# A gets 429 with Retry-After: 2 on its first arrival, 200 on its retry,
# usually at 0.5 to 1.5 s, so every process still has jobs of key A queued
# through the pause. The processes do not share key A's tokens evenly, so
# the 429 may come as late as 3 s or more (seen: 3.07 s); key B has jobs
# left for the whole pause even then.
NA=30
NB=$((2 * NA))
KRATE=20
run_pause() {
  local label=$1 url=$2 tol=$3
  reset
  local p i
  for p in 1 2 3; do
    for i in $(seq 1 "$NB"); do
      local q=""
      [ "$p" -eq 1 ] && [ "$i" -eq 10 ] && q="&fail_first=1&fail_status=429&retry_after=2"
      [ "$i" -le "$NA" ] &&
        printf '{"id": "%s-p%d-a%d", "key": "A", "url": "%s/a?job=%s-p%d-a%d%s"}\n' \
          "$label" "$p" "$i" "$BASE" "$label" "$p" "$i" "$q"
      printf '{"id": "%s-p%d-b%d", "key": "B", "url": "%s/b?job=%s-p%d-b%d"}\n' \
        "$label" "$p" "$i" "$BASE" "$label" "$p" "$i"
    done >"$T/$label-p$p.jsonl"
  done
  for p in 1 2 3; do
    run_pacer "$label-p$p" --shared "$url" --per-key-rate $KRATE "$T/$label-p$p.jsonl"
  done
  wait_pacers
  stats >"$T/s.json"
  keep "$label-pause"
  check "$label pause: every process exits 0 ($NBAD did not)" [ "$NBAD" -eq 0 ]
  [ "$NBAD" -eq 0 ] || cat "$T/$label"-p*.err
  local n429 who t429
  n429=$(jq '[.arrivals[] | select(.status == 429)] | length' "$T/s.json")
  who=$(jq -r '[.arrivals[] | select(.status == 429) | .job] | join(",")' "$T/s.json")
  check "$label pause: exactly one 429, to $label-p1-a10 ($n429: $who)" \
    [ "$n429" -eq 1 -a "$who" = "$label-p1-a10" ]
  if [ "$n429" -ne 1 ]; then return; fi
  t429=$(jq '.arrivals[] | select(.status == 429) | .t_ms' "$T/s.json")
  # Arrivals of key A after the 429, as ms after it: those within tol were
  # granted before the pause reached their process (under way when it was
  # set; over Redis also taken on a reservation made before the process
  # learned of the pause); then none until 2 s after the 429 (1 ms for the
  # two clocks' readings).
  local after inflight gap bad bn bgap
  after=$(jq -r --argjson t "$t429" '[.arrivals[] | select(.path == "/a" and .t_ms > $t)
    | .t_ms - $t] | sort | map(tostring) | join(" ")' "$T/s.json")
  inflight=$(echo "$after" | tr ' ' '\n' | awk -v tol="$tol" 'NF && $1 <= tol { printf "%.1f ", $1 }')
  bad=$(echo "$after" | tr ' ' '\n' | awk -v tol="$tol" 'NF && $1 > tol && $1 < 1999' | tr '\n' ' ')
  gap=$(echo "$after" | tr ' ' '\n' | awk -v tol="$tol" 'NF && $1 > tol { printf "%.1f", $1; exit }')
  # Key B during the pause: its arrivals and its longest silence.
  bn=$(jq --argjson t "$t429" '[.arrivals[] | select(.path == "/b" and .t_ms > $t and .t_ms < $t + 2000)] | length' "$T/s.json")
  bgap=$(jq --argjson t "$t429" '[$t] + [.arrivals[] | select(.path == "/b" and .t_ms > $t and .t_ms < $t + 2000) | .t_ms] + [$t + 2000]
    | sort | [range(1; length) as $i | .[$i] - .[$i - 1]] | max' "$T/s.json")
  echo "     $label pause: 429 at $t429 ms; key A after it at +ms: ${inflight:-none} under way (<= $tol), then the first at +$gap ms; key B: $bn requests in the 2 s, longest silence $(printf %.1f "$bgap") ms"
  check "$label pause: no request of key A from any process from +$tol ms to +2 s (${bad:-none})" \
    [ -z "$bad" ]
  check "$label pause: the first request of key A after the pause came at +$gap ms >= 1999" \
    awk "BEGIN { exit !(\"$gap\" != \"\" && $gap >= 1999) }"
  # Those under way had tokens of key A's shared bucket: at most its burst
  # (1) and what the rate gives in tol.
  local nin maxin=$((1 + (tol * KRATE + 999) / 1000))
  nin=$(echo $inflight | wc -w)
  check "$label pause: $nin requests of key A under way <= $maxin" [ "$nin" -le "$maxin" ]
  # Each process that still had jobs of key A at the 429 was held by the
  # pause, not idle: it was sending (key B, whose lines follow key A's in
  # its input, which it reads at once) before the pause ended, and sent the
  # rest of key A after the pause. (Before the pause ended, not before the
  # 429: a slow process, TSan on a busy machine, may send its first request
  # after a 429 at 650 ms.) The processes do not share key A's tokens evenly
  # (whoever asks first takes one), so one may have sent all its NA before;
  # at least one process besides the one told to pause must have been held.
  local held=0
  for p in 1 2 3; do
    local before later done_a
    done_a=$(jq --argjson t "$t429" "[.arrivals[] | select(.path == \"/a\" and .t_ms < \$t and (.job | startswith(\"$label-p$p-\")))] | length" "$T/s.json")
    [ "$done_a" -ge "$NA" ] && continue
    before=$(jq --argjson t "$t429" "[.arrivals[] | select(.path == \"/b\" and .t_ms < \$t + 1999 and (.job | startswith(\"$label-p$p-\")))] | length" "$T/s.json")
    later=$(jq --argjson t "$t429" "[.arrivals[] | select(.path == \"/a\" and .t_ms > \$t + 1999 and (.job | startswith(\"$label-p$p-\")))] | length" "$T/s.json")
    check "$label pause: process $p sent key B before the pause ended ($before) and key A after it ($later)" \
      [ "$before" -gt 0 -a "$later" -gt 0 ]
    [ "$p" -ne 1 ] && held=$((held + 1))
  done
  check "$label pause: $held of the 2 other processes still had key A to send, and were held" \
    [ "$held" -ge 1 ]
  # Key B at 20/s would have 40 tokens in the 2 s; a quarter of that, and
  # no silence of 0.5 s (more under the sanitizers), says it was served.
  check "$label pause: key B served during the pause ($bn requests >= 10, longest silence $(printf %.1f "$bgap") ms <= $((500 * SCALE)))" \
    [ "$bn" -ge 10 -a "$(awk "BEGIN { print ($bgap <= 500 * $SCALE) }")" -eq 1 ]
  local okn lines_bad=0 ans_bad=0
  okn=$(jq '.status_counts["200"] // 0' "$T/s.json")
  for p in 1 2 3; do
    lines_ok "$label-p$p" "$T/$label-p$p.jsonl" || lines_bad=$((lines_bad + 1))
    answered_once "$T/$label-p$p.jsonl" || ans_bad=$((ans_bad + 1))
  done
  check "$label pause: one result line per job in each process (wrong in $lines_bad)" \
    [ "$lines_bad" -eq 0 ]
  check "$label pause: the server answered 200 once to each of the $((3 * (NA + NB))) jobs ($okn; wrong in $ans_bad processes)" \
    [ "$okn" -eq $((3 * (NA + NB))) -a "$ans_bad" -eq 0 ]
}

# ---- 2. Redis killed mid-run and restarted 3 s later ----
# 3 processes of RJOBS jobs each at a shared 100/s, burst 5: 6 s of tokens.
# Redis is killed once the server has seen 200 requests (2 s in), restarted
# on the same port 3 s later.
RJOBS=200
run_redis_kill() {
  local url=$1 tol=$2
  reset
  local p i
  for p in 1 2 3; do
    for i in $(seq 1 "$RJOBS"); do
      printf '{"id": "r-p%d-%d", "url": "%s/r?job=r-p%d-%d"}\n' "$p" "$i" "$BASE" "$p" "$i"
    done >"$T/r-p$p.jsonl"
  done
  for p in 1 2 3; do
    run_pacer "r-p$p" --shared "$url" --rate 100 --burst 5 "$T/r-p$p.jsonl"
  done
  if ! wait_total 200; then
    bad "redis: the processes did not reach 200 requests"
    stop_pacers
    return
  fi
  mark kill
  kill -9 "$REDIS_PID"
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
  sleep 3
  mark restart
  local up=1
  start_redis "$RPORT" || up=0
  mark ready
  check "redis: restarted on port $RPORT" [ "$up" -eq 1 ]
  wait_pacers
  stats >"$T/s.json"
  keep redis-kill
  local tk tr ty last first n_down up_ms resume
  tk=$(t_of kill)
  tr=$(t_of restart)
  ty=$(t_of ready)
  # The last request that arrived after the kill and before the restart,
  # and the first after the restart, as ms from each.
  last=$(jq --argjson k "$tk" --argjson r "$tr" '[.arrivals[] | select(.path == "/r" and .t_ms > $k and .t_ms < $r) | .t_ms - $k] | max // 0 | . * 10 | round / 10' "$T/s.json")
  n_down=$(jq --argjson k "$tk" --argjson r "$tr" '[.arrivals[] | select(.path == "/r" and .t_ms > $k and .t_ms < $r)] | length' "$T/s.json")
  first=$(jq --argjson r "$tr" '[.arrivals[] | select(.path == "/r" and .t_ms > $r) | .t_ms - $r] | min // -1 | . * 10 | round / 10' "$T/s.json")
  # From the restart (redis-server started) to its first answer to the
  # script (which polls every 50 ms), and to the processes' first request:
  # the store reconnects at most 500 ms apart (DESIGN.md).
  up_ms=$(awk "BEGIN { printf \"%.1f\", $ty - $tr }")
  resume=$(awk "BEGIN { printf \"%.1f\", $first - ($ty - $tr) }")
  echo "     redis killed at $tk ms, restarted at $tr ms: $n_down requests after the kill (the last at +$last ms); redis answered at +$up_ms ms, the first request at +$first ms ($resume ms after redis answered)"
  check "redis: every process exits 0 ($NBAD did not)" [ "$NBAD" -eq 0 ]
  [ "$NBAD" -eq 0 ] || cat "$T"/r-p*.err
  echo "     redis: process 1's stderr: $(tr '\n' '|' <"$T/r-p1.err" | head -c 400)"
  check "redis: no request from +$tol ms after the kill to the restart (last at +$last ms)" \
    awk "BEGIN { exit !($last <= $tol) }"
  check "redis: sending resumed within $((1000 * SCALE)) ms of redis answering ($resume ms)" \
    awk "BEGIN { exit !($first >= 0 && $resume <= 1000 * $SCALE) }"
  local okn lines_bad=0 ans_bad=0 errs conn
  okn=$(jq '.status_counts["200"] // 0' "$T/s.json")
  for p in 1 2 3; do
    lines_ok "r-p$p" "$T/r-p$p.jsonl" || lines_bad=$((lines_bad + 1))
    answered_once "$T/r-p$p.jsonl" || ans_bad=$((ans_bad + 1))
  done
  check "redis: one result line per job in each process (wrong in $lines_bad)" \
    [ "$lines_bad" -eq 0 ]
  # Markers are answered 200 too: 3 of them.
  check "redis: the server answered 200 once to each of the $((3 * RJOBS)) jobs ($((okn - 3)); wrong in $ans_bad processes)" \
    [ "$okn" -eq $((3 * RJOBS + 3)) -a "$ans_bad" -eq 0 ]
  errs=$(cat "$T"/r-p*.stats | jq -s -c 'map(.shared.errors)')
  conn=$(cat "$T"/r-p*.stats | jq -s -c 'map(.shared.state)')
  echo "     redis: store errors per process $errs, state at the end $conn"
  check "redis: each process counted store errors ($errs)" \
    [ "$(cat "$T"/r-p*.stats | jq -s 'map(select(.shared.errors > 0)) | length')" -eq 3 ]
  local disc fbg
  disc=$(cat "$T"/r-p*.stats | jq -s -c 'map(.shared.disconnects)')
  fbg=$(cat "$T"/r-p*.stats | jq -s -c 'map(.shared.fallback_grants)')
  echo "     redis: disconnects per process $disc, fallback grants $fbg"
  check "redis: each process saw the store go ($disc disconnects)" \
    [ "$(cat "$T"/r-p*.stats | jq -s 'map(select(.shared.disconnects >= 1)) | length')" -eq 3 ]
  check "redis: holding, no process granted from a local fallback ($fbg)" \
    [ "$(cat "$T"/r-p*.stats | jq -s 'map(.shared.fallback_grants) | add')" -eq 0 ]
  check "redis: each process ends connected ($conn)" \
    [ "$(cat "$T"/r-p*.stats | jq -s 'map(select(.shared.state == "connected")) | length')" -eq 3 ]
}

# ---- 3. a process SIGKILLed on shared memory ----
# 4 processes of KJOBS jobs at a shared 200/s, burst 10: 6 s of tokens.
# Process 4 is killed once the server has seen 300 requests (1.5 s in);
# process 5, started right after with NJOBS jobs, takes its place.
KJOBS=300
NJOBS=200
KRATE2=200
KBURST=10
run_shm_kill() {
  local url=$1 slack=$2
  reset
  local p i
  for p in 1 2 3 4 5; do
    local n=$KJOBS
    [ "$p" -eq 5 ] && n=$NJOBS
    for i in $(seq 1 "$n"); do
      printf '{"id": "k-p%d-%d", "url": "%s/k?job=k-p%d-%d"}\n' "$p" "$i" "$BASE" "$p" "$i"
    done >"$T/k-p$p.jsonl"
  done
  for p in 1 2 3 4; do
    run_pacer "k-p$p" --shared "$url" --rate $KRATE2 --burst $KBURST "$T/k-p$p.jsonl"
  done
  if ! wait_total 300; then
    bad "shm kill: the processes did not reach 300 requests"
    stop_pacers
    return
  fi
  local victim=${PACER_PIDS[3]}
  mark kill
  kill -9 "$victim"
  wait "$victim" 2>/dev/null
  PACER_PIDS=("${PACER_PIDS[@]:0:3}")
  run_pacer "k-p5" --shared "$url" --rate $KRATE2 --burst $KBURST "$T/k-p5.jsonl"
  wait_pacers
  stats >"$T/s.json"
  keep shm-kill
  local tk sent4 late4 lines4 win span agg n_after
  tk=$(t_of kill)
  sent4=$(jq '[.arrivals[] | select(.job | startswith("k-p4-"))] | length' "$T/s.json")
  late4=$(jq --argjson k "$tk" '[.arrivals[] | select((.job | startswith("k-p4-")) and .t_ms > $k) | .t_ms - $k] | max // 0 | . * 10 | round / 10' "$T/s.json")
  lines4=$(wc -l <"$T/k-p4.out")
  # The largest number of job arrivals in any (t - 1 s, t], and the
  # aggregate rate from the kill to the last arrival.
  # Each window (t - 1 s, t] ending at an arrival: its count, and the
  # longest silence before any of its arrivals (a stall of the server, or
  # of every process, during which requests granted before it wait and then
  # arrive bunched). Printed: the largest window; the window most over its
  # bound of rate + burst + slack + rate x its silence, as "count bound
  # silence_ms"; the longest silence of the run (ms).
  local win worst wcount wbound wgap runsil
  read -r win wcount wbound wgap runsil < <(jq -r '.arrivals[] | select(.path == "/k") | .t_ms' "$T/s.json" |
    sort -n | awk -v rate=$KRATE2 -v fixed=$((KRATE2 + KBURST + slack)) '
    BEGIN { n = 0; lo = 0; best = 0; worst = -1e9; rs = 0 }
    { ts[n++] = $1; while (ts[lo] <= $1 - 1000) lo++
      if (n > 1 && $1 - ts[n - 2] > rs) rs = $1 - ts[n - 2]
      g = 0
      for (i = (lo > 0 ? lo : 1); i < n; i++) if (ts[i] - ts[i - 1] > g) g = ts[i] - ts[i - 1]
      c = n - lo; b = fixed + rate * g / 1000
      if (c > best) best = c
      if (c - b > worst) { worst = c - b; wc = c; wb = b; wg = g } }
    END { printf "%d %d %.1f %.1f %.1f\n", best, wc, wb, wg, rs }')
  # The whole run's aggregate: tokens after the first burst over the time
  # from the first arrival to the last.
  local ntot span_all agg_all
  ntot=$(jq '[.arrivals[] | select(.path == "/k")] | length' "$T/s.json")
  span_all=$(jq '[.arrivals[] | select(.path == "/k") | .t_ms] | (max - min) / 1000' "$T/s.json")
  agg_all=$(awk "BEGIN { printf \"%.1f\", ($ntot - $KBURST) / $span_all }")
  n_after=$(jq --argjson k "$tk" '[.arrivals[] | select(.path == "/k" and .t_ms > $k)] | length' "$T/s.json")
  span=$(jq --argjson k "$tk" '([.arrivals[] | select(.path == "/k") | .t_ms] | max) - $k' "$T/s.json")
  agg=$(awk "BEGIN { printf \"%.1f\", $n_after * 1000 / $span }")
  echo "     shm kill: process 4 killed at $tk ms after sending $sent4 of $KJOBS jobs (its last arrival +$late4 ms after the kill, $lines4 result lines written); without a spool its other $((KJOBS - sent4)) jobs were never sent"
  echo "     shm kill: largest 1 s window $win (rate $KRATE2, burst $KBURST); the window closest to its bound: $wcount <= $wbound (silence $wgap ms in it); longest silence of the run $runsil ms; whole run $ntot requests in $span_all s, $agg_all/s; after the kill $n_after requests in $(awk "BEGIN { printf \"%.3f\", $span / 1000 }") s, $agg/s"
  check "shm kill: processes 1-3 and the new process 5 exit 0 ($NBAD did not)" [ "$NBAD" -eq 0 ]
  [ "$NBAD" -eq 0 ] || cat "$T"/k-p[1235].err
  local lines_bad=0 ans_bad=0
  for p in 1 2 3 5; do
    lines_ok "k-p$p" "$T/k-p$p.jsonl" || lines_bad=$((lines_bad + 1))
    answered_once "$T/k-p$p.jsonl" || ans_bad=$((ans_bad + 1))
  done
  check "shm kill: one result line per job in processes 1-3 and 5 (wrong in $lines_bad)" \
    [ "$lines_bad" -eq 0 ]
  check "shm kill: the server answered 200 once to every job of processes 1-3 and 5 (wrong in $ans_bad)" \
    [ "$ans_bad" -eq 0 ]
  # The killed process had no spool: what it had not sent is not sent.
  check "shm kill: process 4 was killed mid-run ($sent4 of $KJOBS sent) and sent nothing after (+$late4 ms)" \
    [ "$sent4" -gt 0 -a "$sent4" -lt "$KJOBS" -a "$(awk "BEGIN { print ($late4 <= 50 * $SCALE) }")" -eq 1 ]
  check "shm kill: every 1 s window within $KRATE2 + $KBURST + $slack + $KRATE2/s x its longest silence (closest: $wcount <= $wbound)" \
    awk "BEGIN { exit !($wcount <= $wbound) }"
  # From the kill on, stalls do not inflate the aggregate (the whole run's
  # can be, by a stall of the first requests).
  check "shm kill: after the kill $agg/s <= $KRATE2/s + $((2 * SCALE))%" \
    awk "BEGIN { exit !($agg <= $KRATE2 * (1 + 0.02 * $SCALE)) }"
  # The segment still grants, close to the full rate: 75% of it (less under
  # the sanitizers, whose processes may not keep up on a loaded machine; a
  # machine-wide stall of 0.6 s cost one normal run 19%).
  check "shm kill: after the kill the 4 processes sent $agg/s >= $((75 / SCALE))% of $KRATE2/s" \
    awk "BEGIN { exit !($agg >= $KRATE2 * 0.75 / $SCALE) }"
  # No take failed on the segment in any process left running.
  local errs
  errs=$(cat "$T"/k-p[1235].stats | jq -s -c 'map(.shared.errors)')
  check "shm kill: no store error in processes 1-3 and 5 ($errs)" \
    [ "$(cat "$T"/k-p[1235].stats | jq -s 'map(.shared.errors) | add')" -eq 0 ]
}

start_mock
# A request reaches the server a few ms after its grant (the hand-off to a
# worker thread and the send); one process stalled by a loaded machine
# sends its granted requests late, bunched with the others'. Bounds below
# that depend on it grow with SCALE.
# Over shm a pause is read from the segment before each start: only
# requests granted before it was written may arrive after the 429, within
# the hand-off (50 ms).
run_pause shm "shm:$SHM_NAME-pause" $((50 * SCALE))
if ! command -v redis-server >/dev/null; then
  skip "redis-server is not installed: the pause over Redis and the Redis restart did not run"
elif ! find_redis; then
  bad "redis-server did not start on a free loopback port"
else
  # Over Redis the script that writes the pause publishes it, and every
  # other process drops what it reserved of the key as the message arrives
  # (well under a ms on loopback): as over shm, only requests granted
  # before that may arrive after the 429, within the hand-off (50 ms).
  run_pause redis "redis://127.0.0.1:$RPORT/0?name=faults-pause-$$-$RANDOM" $((50 * SCALE))
  # A reservation made before the kill may be taken until the store sees
  # the failure: at most ahead_ms (20 ms at 100/s) + grace (5 ms), plus the
  # hand-off.
  run_redis_kill "redis://127.0.0.1:$RPORT/0?name=faults-kill-$$-$RANDOM" $((25 + 50 * SCALE))
  stop_redis
fi
# Slack of a 1-s window: 2 for a request crossing a window's edge, and
# 0.1 s of the rate (20) for requests granted before a stall of their
# process that arrive bunched with later ones; on top of it, each window
# may hold what the rate gives during the longest silence before one of
# its arrivals (a stall of the server, or of the whole machine: when it
# ends, requests that waited in its socket arrive at once on its clock).
# Measured on a 2-core machine also running two CPU-bound processes: 207
# to 238 in 22 runs (mostly 209 to 216), the 238 after a silence of 78 ms;
# under ASan at load 14, 381. A segment that the kill had left granting
# twice the rate would fill every window to about 400 with silences of a
# few ms. The rate's precision is test_shared.sh's to judge; the aggregate
# after the kill, which stalls do not inflate, is held to 2% here.
run_shm_kill "shm:$SHM_NAME-kill" $((2 + 20 * SCALE))
finish
