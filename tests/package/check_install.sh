#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the built project into a staging prefix, then builds and runs a
# small program against it twice: with find_package(pacer) and with
# pkg-config; then builds examples/fetch.c against it and, given a pacer-mock,
# runs it against the mock on 127.0.0.1.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR WORK_DIR EXAMPLES_DIR [MOCK]
set -eu
build=$1 src=$2 work=$3 examples=$4 mock=${5:-}
rm -rf "$work"
mkdir -p "$work"
stage="$work/stage"
cmake --install "$build" --prefix "$stage" >"$work/install.log"
libdir=$(dirname "$(find "$stage" -name pacer.pc | head -n 1)")/..
libdir=$(cd "$libdir" && pwd)

echo "== find_package(pacer)"
cmake -S "$src/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$stage" \
  -DCMAKE_C_FLAGS="${PACER_SAN_FLAGS:-}" >"$work/cmake.log"
cmake --build "$work/cmake" >>"$work/cmake.log"
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer"

echo "== pkg-config pacer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists pacer
cc ${PACER_SAN_FLAGS:-} -o "$work/pc-consumer" "$src/consumer/main.c" \
  $(pkg-config --cflags pacer) $(pkg-config --libs pacer)
LD_LIBRARY_PATH="$libdir" "$work/pc-consumer"

echo "== examples/fetch.c against the installed library"
cc ${PACER_SAN_FLAGS:-} -o "$work/fetch" "$examples/fetch.c" \
  $(pkg-config --cflags pacer) $(pkg-config --libs pacer) -lpthread
if [ -n "$mock" ]; then
  fifo="$work/mock.out"
  mkfifo "$fifo"
  "$mock" --port 0 >"$fifo" &
  mock_pid=$!
  exec 3<"$fifo"
  read -r line <&3 # "pacer-mock listening on 127.0.0.1:PORT"
  port=${line##*:}
  status=0
  LD_LIBRARY_PATH="$libdir" "$work/fetch" --rate 50 \
    "http://127.0.0.1:$port/a?bytes=5" "http://127.0.0.1:$port/b?status=404" \
    >"$work/fetch.out" || status=$?
  kill "$mock_pid"
  wait "$mock_pid" || true
  exec 3<&-
  cat "$work/fetch.out"
  # One line per URL; the 404 makes the exit status 1.
  [ "$status" -eq 1 ]
  grep -q "/a?bytes=5 .*HTTP 200" "$work/fetch.out"
  grep -q "/b?status=404 .*HTTP 404" "$work/fetch.out"
fi
