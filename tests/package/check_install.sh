#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the built project into a staging prefix, then builds and runs a
# small program against it twice: with find_package(pacer) and with
# pkg-config. Usage: check_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
build=$1 src=$2 work=$3
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
