# SPDX-License-Identifier: MIT
# Shared by the command's end-to-end tests (sourced, bash): a temporary
# directory removed on exit, check/ok/bad with a failure count, skip for a
# check that cannot run here, a pacer-mock on a free loopback port, and a
# redis-server on one (stopped on exit too).
# Needs MOCK set to pacer-mock's path.
T=$(mktemp -d)
MOCK_PID=
fails=0
skips=0

stop_mock() {
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
  MOCK_PID=
}
cleanup() {
  stop_mock
  stop_redis
  rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok   - $*"; }
bad() {
  echo "FAIL - $*"
  fails=$((fails + 1))
}
# A check that cannot run here (a tool or a privilege missing): said, and
# the script ends with CTest's skip code (77, SKIP_RETURN_CODE) unless a
# check failed, so a missing check is never reported as a pass.
skip() {
  echo "SKIP - $*"
  skips=$((skips + 1))
}
check() { # check DESCRIPTION COMMAND... (the command's output is dropped)
  local what=$1
  shift
  if "$@" >/dev/null; then ok "$what"; else bad "$what"; fi
}

# Starts pacer-mock with extra flags (stopping the one before); sets PORT
# and BASE.
start_mock() {
  if [ ! -x "$MOCK" ]; then
    skip "no pacer-mock at '$MOCK': nothing can run"
    finish
  fi
  stop_mock
  rm -f "$T/port"
  # MOCK_NICE (optional): the server's niceness, for a test whose server
  # timestamps arrivals: one that waits for a CPU reads them late, as a
  # bunch. Below 0 needs root; elsewhere nice says so in mock.log and runs
  # it at the default.
  ${MOCK_NICE:+nice -n "$MOCK_NICE"} "$MOCK" --port 0 --port-file "$T/port" "$@" >"$T/mock.log" 2>&1 &
  MOCK_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$T/port" ] && break
    sleep 0.05
  done
  PORT=$(cat "$T/port")
  BASE="http://127.0.0.1:$PORT"
}
# ---- redis-server, for the shared-limit tests ----
REDIS_PID=
RPORT=
stop_redis() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
}
# start_redis PORT: a redis-server on 127.0.0.1:PORT, no persistence (a
# restart forgets every bucket, as a failed-over server may); 0 once it
# answers.
start_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
    >>"$T/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    # ours, not another server that had the port (ours then dies: bind)
    if redis-cli -p "$1" ping >/dev/null 2>&1 &&
      [ "$(redis-cli -p "$1" info server 2>/dev/null | tr -d '\r' |
        sed -n 's/^process_id://p')" = "$REDIS_PID" ]; then
      return 0
    fi
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  stop_redis
  return 1
}
# find_redis: sets RPORT to the port of a new redis-server on a free
# loopback port; 1 when none would start.
find_redis() {
  RPORT=
  local port
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    if start_redis "$port"; then
      RPORT=$port
      return 0
    fi
  done
  return 1
}

stats() { curl -s "$BASE/__stats${1:-}"; }
reset() { curl -s -X POST "$BASE/__reset" >/dev/null; }

# Prints the outcome and exits with it: 1 if a check failed, else 77 if a
# check was skipped, else 0.
# need_jq: the tests that read JSON with jq end here, failed, without it
# (scripts/deps installs it).
need_jq() {
  command -v jq >/dev/null && return 0
  bad "jq is not installed"
  finish
}

finish() {
  echo
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  if [ "$skips" -ne 0 ]; then
    echo "every check that ran passed; $skips could not run (SKIP above)"
    exit 77
  fi
  echo "all checks passed"
  exit 0
}
