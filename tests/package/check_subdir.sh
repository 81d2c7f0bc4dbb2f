#!/bin/sh
# SPDX-License-Identifier: MIT
# A parent project that does add_subdirectory() on pacer configures, builds
# and runs a small program without libmicrohttpd or CMocka: pkg-config is a
# wrapper that records every query and refuses those two (and zlib, which
# only the mock server needs), and the configure must not even ask for them.
# Usage: check_subdir.sh SOURCE_DIR WORK_DIR GENERATOR C_COMPILER
set -eu
src=$1 work=$2 gen=$3 cc=$4
rm -rf "$work"
mkdir -p "$work/bin"
real=$(command -v pkg-config)
log="$work/pkg-config.log"
: >"$log"
cat >"$work/bin/pkg-config" <<WRAP
#!/bin/sh
echo "\$*" >>"$log"
case " \$* " in
*libmicrohttpd* | *cmocka* | *zlib*) exit 1 ;;
esac
exec "$real" "\$@"
WRAP
chmod +x "$work/bin/pkg-config"

echo "== configure and build a parent project with add_subdirectory(pacer)"
if ! cmake -S "$src/tests/package/subdir" -B "$work/build" -G "$gen" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPACER_SOURCE_DIR="$src" -DPKG_CONFIG_EXECUTABLE="$work/bin/pkg-config" \
  >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"
  exit 1
fi
# The wrapper was the one asked (else this test proves nothing) ...
grep -q libcurl "$log" || {
  echo "the pkg-config wrapper was never asked for libcurl"
  exit 1
}
# ... and nothing asked it for what only tests and tools need.
if grep -E 'libmicrohttpd|cmocka|zlib' "$log"; then
  echo "the configure looked for a test or tool dependency (above)"
  exit 1
fi
cmake --build "$work/build" -j 2 >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log"
  exit 1
}
"$work/build/consumer"
