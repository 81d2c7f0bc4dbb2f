#!/bin/sh
# SPDX-License-Identifier: MIT
# run_example.sh - smoke-test one example program against its own pacer-mock.
#
# Usage: run_example.sh PATH/TO/pacer-mock PATH/TO/EXAMPLE [ARGS...]
#
# Starts pacer-mock on a free loopback port (--port 0 --port-file), waits for
# the port file, runs EXAMPLE http://127.0.0.1:PORT ARGS..., stops the mock
# with SIGTERM (also when this script is interrupted) and exits with the
# example's exit status; a mock that then exits nonzero is reported on stderr.
# POSIX sh; no network beyond 127.0.0.1.
# shellcheck disable=SC2317 # stop_mock and cleanup run from the EXIT trap
set -u

if [ $# -lt 2 ]; then
  echo "usage: run_example.sh PATH/TO/pacer-mock PATH/TO/EXAMPLE [ARGS...]" >&2
  exit 2
fi
mock=$1
example=$2
shift 2
for f in "$mock" "$example"; do
  if [ ! -x "$f" ]; then
    echo "run_example: $f is not an executable" >&2
    exit 2
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacer-example.XXXXXX") || exit 2
mock_pid=

stop_mock() {
  if [ -n "$mock_pid" ]; then
    kill -TERM "$mock_pid" 2>/dev/null
    # It exits 0 on SIGTERM; if it hangs for 10 s, kill it.
    n=0
    while kill -0 "$mock_pid" 2>/dev/null && [ "$n" -lt 100 ]; do
      n=$((n + 1))
      sleep 0.1 2>/dev/null || sleep 1
    done
    kill -KILL "$mock_pid" 2>/dev/null
    wait "$mock_pid"
    mock_status=$?
    mock_pid=
    if [ "$mock_status" -ne 0 ]; then
      echo "run_example: pacer-mock exited with status $mock_status:" >&2
      cat "$tmp/mock.err" >&2
    fi
  fi
}
cleanup() {
  stop_mock
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

"$mock" --port 0 --port-file "$tmp/port" >"$tmp/mock.out" 2>"$tmp/mock.err" &
mock_pid=$!

# The port file is written by rename, so once it is non-empty it is whole.
# Wait for it at most 30 s (a sanitizer build on a busy machine is slow).
tries=0
while [ ! -s "$tmp/port" ]; do
  if ! kill -0 "$mock_pid" 2>/dev/null; then
    wait "$mock_pid"
    echo "run_example: pacer-mock exited with status $? before it listened:" >&2
    cat "$tmp/mock.err" >&2
    mock_pid=
    exit 1
  fi
  tries=$((tries + 1))
  if [ "$tries" -gt 300 ]; then
    echo "run_example: pacer-mock wrote no port file in 30 s" >&2
    exit 1
  fi
  sleep 0.1 2>/dev/null || sleep 1
done
port=$(cat "$tmp/port")
case $port in
'' | *[!0-9]*)
  echo "run_example: bad port file: '$port'" >&2
  exit 1
  ;;
esac

echo "run_example: $example http://127.0.0.1:$port $*"
"$example" "http://127.0.0.1:$port" "$@"
status=$?
echo "run_example: exit status $status"
exit "$status"
