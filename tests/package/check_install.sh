#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the built project into a staging prefix, then builds and runs a
# small program against it: with find_package(pacer) and the shared library,
# again with the pkg-config files of the static library's dependencies
# hidden (the shared library must not need them, and pacer::pacer_static
# must then be left out), with the static library, and with pkg-config; then
# builds examples/fetch.c against it and, given a pacer-mock, runs it
# against the mock on 127.0.0.1.
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

echo "== find_package(pacer), shared, with no pkg-config file to be found"
mkdir -p "$work/no-pc"
PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" \
  cmake -S "$src/consumer" -B "$work/cmake-nopc" -DCMAKE_PREFIX_PATH="$stage" \
  -DPACER_CONSUMER_NO_STATIC=ON -DCMAKE_C_FLAGS="${PACER_SAN_FLAGS:-}" \
  >"$work/cmake-nopc.log"
# The hiding worked: pkg-config itself cannot find libcurl there.
if PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" pkg-config --exists libcurl; then
  echo "libcurl.pc is still found with PKG_CONFIG_LIBDIR=$work/no-pc"
  exit 1
fi
PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" \
  cmake --build "$work/cmake-nopc" >>"$work/cmake-nopc.log"
LD_LIBRARY_PATH="$libdir" "$work/cmake-nopc/consumer"

echo "== find_package(pacer COMPONENTS static), pacer::pacer_static"
cmake -S "$src/consumer" -B "$work/cmake-static" -DCMAKE_PREFIX_PATH="$stage" \
  -DPACER_CONSUMER_LINK=static -DCMAKE_C_FLAGS="${PACER_SAN_FLAGS:-}" \
  >"$work/cmake-static.log"
cmake --build "$work/cmake-static" >>"$work/cmake-static.log"
# Linked statically: no libpacer.so to load.
if ldd "$work/cmake-static/consumer" | grep -q libpacer; then
  echo "the static consumer loads libpacer.so"
  exit 1
fi
"$work/cmake-static/consumer"

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
