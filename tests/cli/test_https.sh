#!/bin/bash
# SPDX-License-Identifier: MIT
# The command over real HTTPS (issue #19's proof) against one nginx on free
# loopback ports (tests/support/nginx_tls.sh: a self-signed certificate for
# 127.0.0.1, verified with --ca-file, never --insecure). Every check is
# judged from nginx's access log, the ground truth, and pacer's own
# --stats-json counters (connections_opened, tls_handshakes_full,
# tls_handshakes_resumed, responses_http1, responses_http2; the run's and
# the sum of its keys') must agree with it:
#  a. N GETs at --concurrency 100 --workers 2 to the HTTP/2 server: every
#     response 200, every request HTTP/2.0, at most 2 connections (one per
#     worker: transfers wait for the connection being set up and multiplex
#     over it).
#  b. the same with --http1.1: every request HTTP/1.1, at most 100
#     connections, each carrying more than one request; over TLS 1.3 (the
#     server's), a worker's first transfer goes alone and the others resume
#     its session, each with a ticket or a copy of one of its own (the
#     TLS 1.3 session cache, src/tlscache.h), so at most 2 full handshakes
#     (one per worker). Checked in the normal build only, as b12.
#  b12. the same first burst against a server speaking TLS 1.2 only: at
#     most 2 full TLS handshakes (one per worker). Checked in the normal
#     build only (2 in 25 of 25 runs, a busy core or not): under TSan a few
#     more now and then (2 to 8 of 100 in 12 runs, 1 to 3 with one worker),
#     printed.
#  c. --workers 4 --concurrency 4 --http1.1 to a server speaking TLS 1.2
#     only, which closes a connection after 25 requests (keepalive_
#     requests), so pacer opens new ones all along; the first job is fed
#     alone (a pipe) and the rest once nginx has answered it: the other 3
#     workers find its session in the cache the workers share, so 1 full
#     handshake (4 if each worker kept its own; the spec's bound is one a
#     worker) and every other connection resumes ($ssl_session_reused "r").
#     Concurrency 4: at 100 the first connections of a worker would all
#     start before any session exists.
#  c13. the same over TLS 1.3 (the HTTP/1.1-only server): 1 full handshake,
#     every other connection resumed. Without the TLS 1.3 session cache,
#     libcurl 7.88 offers every connection the one session object it keeps
#     per host, which OpenSSL marks not resumable once a handshake has used
#     it: 2 to 99 full handshakes of 100 in b, 5 to 16 of about 82 here,
#     more the busier the machine.
#  d. --max-host-connections 4 --http1.1 at --concurrency 100 --workers 2:
#     nginx never sees more than 4 connections open ($connections_active;
#     nothing else connects to it during the run: every request logged is
#     the run's), and every job still completes.
#  e. h2c: --http2-prior-knowledge to the plain-text HTTP/2 server: every
#     request HTTP/2.0, at most 2 connections. libcurl before 8.0.0 fails
#     every request after the first on an h2c connection ("Error in the
#     HTTP2 framing layer", curl issue #10634, fixed in 8.0.0: Debian 12
#     has 7.88.1): there pacer gives each request its own connection and
#     warns, and e checks exactly that.
# The figures (connections, handshakes, requests per connection, most
# connections open, seconds) are printed on stdout. N is 10,000 divided by
# PACER_TIMING_SCALE (3,333 under ASan+UBSan, 2,500 under TSan). About 5 s
# in the normal build; loopback only. Skipped (77) without nginx or openssl
# (scripts/deps installs nginx-light and openssl).
# Usage: test_https.sh PACER
set -u
PACER=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../support/nginx_tls.sh"
SCALE=${PACER_TIMING_SCALE:-1}
case $SCALE in '' | *[!0-9]* | 0) SCALE=1 ;; esac
N=$((10000 / SCALE))
NC=$((2000 / SCALE)) # check c: 25 requests a connection, N/25 connections
ND=$((4000 / SCALE))
NE=$((2000 / SCALE))

need_jq
if why=$(nginx_tls_missing); then
  skip "$why: no HTTPS server to test against"
  finish
fi
NGINX_TLS_H2C=1 NGINX_TLS_TLS12=1 NGINX_TLS_H1_KEEPALIVE_REQUESTS=25 nginx_tls_start "$T/nginx" || {
  bad "nginx would not start"
  finish
}
H2=https://127.0.0.1:$NGINX_TLS_H2_PORT
H1=https://127.0.0.1:$NGINX_TLS_H1_PORT
H2C=http://127.0.0.1:$NGINX_TLS_H2C_PORT
H12=https://127.0.0.1:$NGINX_TLS_TLS12_PORT
LIBCURL=$(curl -V 2>/dev/null | sed -n '1s|.*libcurl/\([0-9.]*\).*|\1|p')
echo "# nginx $("$(nginx_tls_bin)" -v 2>&1 | sed 's/.*\///'), libcurl ${LIBCURL:-?}:" \
  "HTTP/2 at $H2, HTTP/1.1 at $H1 (TLS 1.2 only at $H12), h2c at $H2C"

# jobs COUNT BASE TAG > FILE: COUNT GETs of BASE/TAG/1..COUNT.
jobs() {
  awk -v n="$1" -v base="$2" -v tag="$3" 'BEGIN {
    for (i = 1; i <= n; i++) printf "{\"id\": %d, \"url\": \"%s/%s/%d\"}\n", i, base, tag, i
  }'
}

# feed TAG PID: TAG's jobs on stdout; with STAGGER=1 the first alone, the
# rest once nginx has logged it (or PID, the reader, ended) and a moment
# more (the client reads the response, and the session ticket before it).
feed() {
  if [ "${STAGGER:-0}" != 1 ]; then
    cat "$T/$1.jsonl"
    return
  fi
  head -1 "$T/$1.jsonl"
  local i
  for ((i = 0; i < 500 * SCALE; i++)); do
    grep -q " /$1/1 " "$NGINX_TLS_LOG" && break
    kill -0 "$2" 2>/dev/null || return 0
    sleep 0.02
  done
  sleep "0.$SCALE"
  tail -n +2 "$T/$1.jsonl"
}

# run TAG COUNT BASE FLAGS...: sends COUNT jobs to BASE/TAG/ (read from
# a pipe, see feed) with the certificate and FLAGS, between two marks of
# nginx's log; sets RC, SECS
# and NG (nginx_tls_summary of the span) and checks what every run must
# show: exit 0, COUNT result lines all ok with status 200, COUNT requests
# at nginx (nothing else reached it) all 200, and pacer's counters equal
# to nginx's. 1 when pacer refused its flags (nothing more to check).
run() {
  local tag=$1 count=$2 base=$3 m t0 t1 good
  shift 3
  jobs "$count" "$base" "$tag" >"$T/$tag.jsonl"
  m=$(nginx_tls_mark) || {
    bad "$tag: no mark in nginx's log"
    finish
  }
  t0=$(date +%s.%N)
  rm -f "$T/feed"
  mkfifo "$T/feed"
  "$PACER" send -q --ca-file "$NGINX_TLS_CA" --stats-json "$T/$tag.stats.json" \
    --out "$T/$tag.out.jsonl" "$@" - <"$T/feed" 2>"$T/$tag.err" &
  local pid=$!
  feed "$tag" "$pid" 2>/dev/null >"$T/feed"
  wait "$pid"
  RC=$?
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  NG=$(nginx_tls_summary "$m")
  echo "# $tag: pacer send $*: exit $RC, $SECS s"
  echo "# $tag: nginx: $NG"
  if [ "$RC" -eq 2 ]; then
    bad "$tag: pacer refused its flags: $(head -c 300 "$T/$tag.err")"
    return 1
  fi
  check "$tag: exit 0 (got $RC)" [ "$RC" -eq 0 ]
  good=$(jq -c 'select(.ok == true and .status == 200)' "$T/$tag.out.jsonl" 2>/dev/null | wc -l)
  check "$tag: $count result lines ok with status 200 (got $good)" [ "$good" -eq "$count" ]
  check "$tag: nginx logged $count requests, the run's only ($(ng requests))" \
    [ "$(ng requests)" -eq "$count" ]
  check "$tag: nginx answered 200 to all ($(ng status_ok))" [ "$(ng status_ok)" -eq "$count" ]
  stats_agree "$tag"
  return 0
}
ng() { nginx_tls_val "$NG" "$1"; }
# shellcheck disable=SC2317 # called by check
# same MINE THEIRS KEYS: MINE is a count, THEIRS's and KEYS's.
same() { [ "$1" != missing ] && [ "$1" = "$2" ] && [ "$1" = "$3" ]; }
# stats_agree TAG: pacer's connection, handshake and protocol counters
# (--stats-json, the run's and the sum of its keys') are nginx's
# (connections: every one nginx accepted during the run, with or without a
# request).
stats_agree() {
  local tag=$1 f name mine keys theirs got
  got=$(jq -r '. as $s | ["connections_opened", "tls_handshakes_full",
      "tls_handshakes_resumed", "responses_http1", "responses_http2"][] |
    . as $f | "\($f) \($s[$f] // "missing")" + " " +
      ([$s.keys[] | .[$f]] | if any(. == null) then "missing" else add | tostring end)' \
    "$T/$tag.stats.json" 2>/dev/null)
  for f in connections_opened:accepted tls_handshakes_full:full \
    tls_handshakes_resumed:resumed responses_http1:http1 responses_http2:http2; do
    name=${f%%:*}
    read -r mine keys < <(echo "$got" | sed -n "s/^$name //p")
    theirs=$(ng "${f#*:}")
    check "$tag: pacer's $name ${mine:-missing}, nginx's ${f#*:} $theirs, the keys' sum ${keys:-missing}" \
      same "${mine:-missing}" "$theirs" "${keys:-missing}"
  done
}

# ---- a. HTTP/2 by default: one connection per worker, multiplexed ----
if run a "$N" "$H2" --concurrency 100 --workers 2; then
  check "a: every request HTTP/2.0 ($(ng http2) of $N)" [ "$(ng http2)" -eq "$N" ]
  check "a: at most 2 connections, one per worker ($(ng accepted) accepted, $(ng connections) with requests)" \
    [ "$(ng accepted)" -le 2 ]
  echo "a: HTTP/2: $N requests over $(ng connections) connections ($(ng per_conn) a connection)," \
    "$(ng full) full + $(ng resumed) resumed handshakes, at most $(ng max_active) open, $SECS s"
fi

# ---- b. --http1.1: connections kept and reused ----
if run b "$N" "$H2" --concurrency 100 --workers 2 --http1.1; then
  check "b: every request HTTP/1.1 ($(ng http1) of $N)" [ "$(ng http1)" -eq "$N" ]
  check "b: at most 100 connections ($(ng accepted) accepted)" [ "$(ng accepted)" -le 100 ]
  check "b: connections reused: $(ng per_conn) requests a connection" \
    awk -v x="$(ng per_conn)" 'BEGIN { exit !(x > 1) }'
  if [ "$SCALE" -eq 1 ]; then
    check "b: at most 2 full TLS 1.3 handshakes, one per worker ($(ng full) full, $(ng resumed) resumed)" \
      [ "$(ng full)" -le 2 ]
  fi
  echo "b: HTTP/1.1 over TLS 1.3: $N requests over $(ng connections) connections ($(ng per_conn) a connection," \
    "at most $(ng max_per_conn)), $(ng full) full + $(ng resumed) resumed handshakes," \
    "at most $(ng max_active) open, $SECS s"
fi

# ---- b12. the first burst over TLS 1.2 ----
if run b12 "$NC" "$H12" --concurrency 100 --workers 2 --http1.1; then
  if [ "$SCALE" -eq 1 ]; then
    check "b12: at most 2 full TLS handshakes, one per worker ($(ng full) full, $(ng resumed) resumed)" \
      [ "$(ng full)" -le 2 ]
  fi
  echo "b12: TLS 1.2 burst: $NC requests over $(ng connections) connections (nginx closes each" \
    "after 25): $(ng full) full + $(ng resumed) resumed handshakes, $SECS s"
fi

# ---- c. TLS sessions shared by the workers (TLS 1.2) ----
if STAGGER=1 run c "$NC" "$H12" --concurrency 4 --workers 4 --http1.1; then
  check "c: at most 4 full handshakes, one per worker ($(ng full))" [ "$(ng full)" -le 4 ]
  check "c: sessions shared by the workers: 1 full handshake ($(ng full))" [ "$(ng full)" -eq 1 ]
  check "c: every other connection resumed ($(ng resumed) of $(ng connections))" \
    [ "$(($(ng full) + $(ng resumed)))" -eq "$(ng connections)" ]
  check "c: nginx closed connections, pacer opened new ones ($(ng connections) for $NC requests)" \
    [ "$(ng connections)" -ge $((NC / 25)) ]
  echo "c: TLS 1.2 resumption: $NC requests over $(ng connections) connections (nginx closes" \
    "each after 25): $(ng full) full + $(ng resumed) resumed handshakes, $SECS s"
fi

# ---- c13. the same over TLS 1.3 ----
if STAGGER=1 run c13 "$NC" "$H1" --concurrency 4 --workers 4 --http1.1; then
  check "c13: sessions shared by the workers: 1 full handshake ($(ng full))" [ "$(ng full)" -eq 1 ]
  check "c13: every other connection resumed ($(ng resumed) of $(ng connections))" \
    [ "$(($(ng full) + $(ng resumed)))" -eq "$(ng connections)" ]
  check "c13: every handshake TLS 1.3 ($(ng tls13) of $NC requests)" [ "$(ng tls13)" -eq "$NC" ]
  echo "c13: TLS 1.3 resumption: $NC requests over $(ng connections) connections (nginx closes" \
    "each after 25): $(ng full) full + $(ng resumed) resumed handshakes, $SECS s"
fi

# ---- d. --max-host-connections: never more open at once ----
if run d "$ND" "$H2" --concurrency 100 --workers 2 --http1.1 --max-host-connections 4; then
  check "d: nginx never saw more than 4 connections open ($(ng max_active))" \
    [ "$(ng max_active)" -le 4 ]
  echo "d: --max-host-connections 4: $ND requests over $(ng connections) connections," \
    "at most $(ng max_active) open at once, $SECS s"
fi

# ---- e. h2c with --http2-prior-knowledge ----
# libcurl before 8.0.0 cannot reuse an h2c connection: pacer then gives
# each h2c request a connection of its own (and warns), so all succeed.
H2C_ALONE=0
if [ "$(printf '%s\n' 8.0.0 "${LIBCURL:-0}" | sort -V | head -1)" != 8.0.0 ]; then
  H2C_ALONE=1
fi
if run e "$NE" "$H2C" --concurrency 100 --workers 2 --http2-prior-knowledge; then
  check "e: every request HTTP/2.0 ($(ng http2) of $NE)" [ "$(ng http2)" -eq "$NE" ]
  if [ "$H2C_ALONE" = 1 ]; then
    check "e: libcurl ${LIBCURL:-?}: a connection per request ($(ng accepted) of $NE)" \
      [ "$(ng accepted)" -eq "$NE" ]
    check "e: the warning says why" grep -q 'cannot reuse an h2c connection' "$T/e.err"
  else
    check "e: at most 2 connections ($(ng accepted))" [ "$(ng accepted)" -le 2 ]
  fi
  echo "e: h2c: $NE requests over $(ng connections) connections, $SECS s"
fi

finish
