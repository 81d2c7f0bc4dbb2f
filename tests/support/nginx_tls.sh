# SPDX-License-Identifier: MIT
# An nginx over TLS on free loopback ports, for the HTTPS tests and bench/run
# (bash, sourced; safe under set -euo pipefail): a self-signed certificate
# for 127.0.0.1, then one nginx process serving "ok\n" (200) on every path
# with HTTP/2 by ALPN, HTTP/1.1 only, and optionally h2c, writing an access
# log that is the ground truth of what a client did: its connections, TLS
# handshakes (full or resumed), protocols and the connections open at once.
#
#   . tests/support/nginx_tls.sh
#   nginx_tls_missing && exit 77      # says what is missing (nginx, openssl...)
#   nginx_tls_start "$DIR" || exit 1  # sets the NGINX_TLS_* variables below
#   m=$(nginx_tls_mark)               # before a run: a line of the log
#   ... send to https://127.0.0.1:$NGINX_TLS_H2_PORT/ with --cacert $NGINX_TLS_CA
#   s=$(nginx_tls_summary "$m")       # after it: key=value ... (see there)
#   nginx_tls_val "$s" connections
#   nginx_tls_stop                    # also run on exit (EXIT trap, chained)
#
# Options (environment, read by nginx_tls_start):
#   NGINX_TLS_H2C=1                 also a plain-text HTTP/2 (h2c) server
#   NGINX_TLS_TLS12=1               also an HTTP/1.1-only server that speaks
#                                   TLS 1.2 alone (as NGINX_TLS_H1_PORT's
#                                   otherwise)
#   NGINX_TLS_ACCESS_LOG=0          no access log (a benchmark's server)
#   NGINX_TLS_STREAMS=128           http2_max_concurrent_streams
#   NGINX_TLS_KEEPALIVE_REQUESTS=100000  requests before nginx closes a
#                                   connection (its default, 1000, would
#                                   close HTTP/2 connections mid-run)
#   NGINX_TLS_PROTOCOLS="TLSv1.2 TLSv1.3"  ssl_protocols
#   NGINX_TLS_H1_KEEPALIVE_REQUESTS=N  the same for the HTTP/1.1-only server
#                                   alone: a small N makes a client open
#                                   new connections, to resume sessions
# Set by nginx_tls_start:
#   NGINX_TLS_DIR       the prefix: nginx.conf, cert.pem, key.pem, access.log,
#                       error.log, stderr, nginx.pid and the temp paths
#   NGINX_TLS_CA        the certificate (self-signed: it is its own CA)
#   NGINX_TLS_H2_PORT   `listen ssl http2`: HTTP/2 when ALPN offers h2
#   NGINX_TLS_H1_PORT   `listen ssl`: HTTP/1.1 only
#   NGINX_TLS_H2C_PORT  `listen http2` (h2c, prior knowledge); with
#                       NGINX_TLS_H2C=1, else empty
#   NGINX_TLS_TLS12_PORT  `listen ssl`, TLSv1.2 only; with NGINX_TLS_TLS12=1
#   NGINX_TLS_LOG       the access log
#   NGINX_TLS_PID       nginx's process id
#
# One process (master_process off, worker_processes 1): it runs as the
# user who starts it, root included (a master started by root would hand
# the requests to workers as another user, who could not write the
# temporary directory), it never drops to another user nor needs
# /var/lib/nginx or /run, the log's lines are written in order by one
# writer, $connections_active is one process's count, and on a small
# machine it takes one core, leaving the rest to the client under test.
# A watchdog stops it if the script that started it dies without its EXIT
# trap (SIGKILL, a CTest timeout). A system nginx (port 80) is neither used
# nor touched: every port here is a free one on 127.0.0.1.
#
# The access log's fields, one line per request:
#   $connection $connection_requests $server_protocol $ssl_session_reused
#   $ssl_protocol $msec $connections_active $request_uri $status $server_port
# ($connection is nginx's serial number of a TCP connection, the same for
# every HTTP/2 stream of it; $connection_requests is 1 for its first request
# or stream; $ssl_session_reused is "r" when the handshake resumed a
# session, "." for a full one, "-" without TLS.)

# shellcheck disable=SC2034 # set for the script that sources this
NGINX_TLS_DIR=
NGINX_TLS_CA=
NGINX_TLS_H2_PORT=
NGINX_TLS_H1_PORT=
NGINX_TLS_H2C_PORT=
NGINX_TLS_TLS12_PORT=
NGINX_TLS_LOG=
NGINX_TLS_PID=
_nginx_tls_watchdog=
_nginx_tls_trapped=

# nginx_tls_bin: nginx's path (it lives in /usr/sbin, often not on a
# user's PATH).
nginx_tls_bin() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }
}

# nginx_tls_missing: 0 (and says what on stdout) if nginx_tls_start cannot
# work here: no nginx, no openssl or curl, or an nginx built without TLS,
# HTTP/2 or stub_status ($connections_active). scripts/deps installs
# Debian's nginx-light, openssl and curl.
nginx_tls_missing() {
  local bin v t
  bin=$(nginx_tls_bin) || bin=
  if [ -z "$bin" ]; then
    echo "nginx is not installed (Debian: nginx-light)"
    return 0
  fi
  for t in openssl curl; do
    if ! command -v "$t" >/dev/null; then
      echo "$t is not installed"
      return 0
    fi
  done
  v=$("$bin" -V 2>&1) || true
  for t in http_ssl_module http_v2_module http_stub_status_module; do
    case $v in
    *"--with-$t"*) ;;
    *)
      echo "nginx ($bin) is built without $t"
      return 0
      ;;
    esac
  done
  return 1
}

# nginx_tls_cert DIR: DIR/cert.pem and DIR/key.pem, made once per DIR: a
# self-signed certificate for CN and IP SAN 127.0.0.1, valid one day, EC
# P-256 (cheap handshakes) or RSA 2048 where EC keys cannot be made.
nginx_tls_cert() {
  local d=$1
  [ -s "$d/cert.pem" ] && [ -s "$d/key.pem" ] && return 0
  mkdir -p "$d"
  if ! openssl req -x509 -nodes -days 1 -newkey ec \
    -pkeyopt ec_paramgen_curve:prime256v1 -keyout "$d/key.pem" \
    -out "$d/cert.pem" -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 >"$d/openssl.log" 2>&1; then
    openssl req -x509 -nodes -days 1 -newkey rsa:2048 -keyout "$d/key.pem" \
      -out "$d/cert.pem" -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 >>"$d/openssl.log" 2>&1 || {
      cat "$d/openssl.log" >&2
      return 1
    }
  fi
}

# _nginx_tls_port: a port of 20000..59999 nobody listens on (ss, when
# there; nginx's bind is the final word).
_nginx_tls_port() {
  local p
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if command -v ss >/dev/null; then
      ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue
    fi
    echo "$p"
    return 0
  done
}

# _nginx_tls_distinct PORT...: 0 if the PORTs not empty differ.
_nginx_tls_distinct() {
  local a b
  for a in "$@"; do
    shift
    [ -n "$a" ] || continue
    for b in "$@"; do
      [ "$a" != "$b" ] || return 1
    done
  done
  return 0
}

# _nginx_tls_conf DIR: writes DIR/nginx.conf for the ports chosen.
_nginx_tls_conf() {
  local d=$1 log="access_log off;" h2c="" tls12=""
  if [ "${NGINX_TLS_ACCESS_LOG:-1}" != 0 ]; then
    log="access_log $d/access.log ntls;"
  fi
  if [ -n "$NGINX_TLS_H2C_PORT" ]; then
    h2c="server { listen 127.0.0.1:$NGINX_TLS_H2C_PORT http2; location / { return 200 \"ok\\n\"; } }"
  fi
  if [ -n "$NGINX_TLS_TLS12_PORT" ]; then
    tls12="server {
    listen 127.0.0.1:$NGINX_TLS_TLS12_PORT ssl;
    ssl_protocols TLSv1.2;
    keepalive_requests ${NGINX_TLS_H1_KEEPALIVE_REQUESTS:-${NGINX_TLS_KEEPALIVE_REQUESTS:-100000}};
    location / { return 200 \"ok\\n\"; }
  }"
  fi
  cat >"$d/nginx.conf" <<EOF
# written by tests/support/nginx_tls.sh
worker_processes 1;
master_process off;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  log_format ntls '\$connection \$connection_requests \$server_protocol '
                  '\$ssl_session_reused \$ssl_protocol \$msec '
                  '\$connections_active \$request_uri \$status \$server_port';
  $log
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  default_type text/plain;
  keepalive_requests ${NGINX_TLS_KEEPALIVE_REQUESTS:-100000};
  keepalive_timeout 120s;
  http2_max_concurrent_streams ${NGINX_TLS_STREAMS:-128};
  ssl_certificate $d/cert.pem;
  ssl_certificate_key $d/key.pem;
  ssl_protocols ${NGINX_TLS_PROTOCOLS:-TLSv1.2 TLSv1.3};
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 1h;
  ssl_session_tickets on;
  server {
    listen 127.0.0.1:$NGINX_TLS_H2_PORT ssl http2;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$NGINX_TLS_H1_PORT ssl;
    keepalive_requests ${NGINX_TLS_H1_KEEPALIVE_REQUESTS:-${NGINX_TLS_KEEPALIVE_REQUESTS:-100000}};
    location / { return 200 "ok\n"; }
  }
  $h2c
  $tls12
}
EOF
}

# _nginx_tls_ready: 0 once the servers answer (checked with curl over TLS,
# verifying the certificate); 1 if nginx died (a port taken) or never did.
_nginx_tls_ready() {
  local _i
  for ((_i = 0; _i < 100; _i++)); do
    kill -0 "$NGINX_TLS_PID" 2>/dev/null || return 1
    if curl -sf --cacert "$NGINX_TLS_CA" -o /dev/null \
      "https://127.0.0.1:$NGINX_TLS_H1_PORT/__nginx_tls_ready" 2>/dev/null &&
      curl -sf --cacert "$NGINX_TLS_CA" -o /dev/null \
        "https://127.0.0.1:$NGINX_TLS_H2_PORT/__nginx_tls_ready" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# nginx_tls_start DIR: makes the certificate (once), writes the
# configuration and starts nginx in DIR on free ports (another try with
# other ports when one was taken); sets the NGINX_TLS_* variables and an
# EXIT trap that stops it (before the trap the caller had). 1, with nginx's
# errors on stderr, if it would not start.
nginx_tls_start() {
  local d=$1 bin
  bin=$(nginx_tls_bin) || {
    echo "nginx_tls: no nginx" >&2
    return 1
  }
  nginx_tls_stop
  mkdir -p "$d"
  d=$(cd "$d" && pwd)
  NGINX_TLS_DIR=$d
  NGINX_TLS_CA=$d/cert.pem
  NGINX_TLS_LOG=$d/access.log
  nginx_tls_cert "$d" || return 1
  _nginx_tls_trap
  for _ in 1 2 3 4 5 6 7 8; do
    NGINX_TLS_H2_PORT=$(_nginx_tls_port)
    NGINX_TLS_H1_PORT=$(_nginx_tls_port)
    NGINX_TLS_H2C_PORT=
    NGINX_TLS_TLS12_PORT=
    if [ "${NGINX_TLS_H2C:-0}" = 1 ]; then
      NGINX_TLS_H2C_PORT=$(_nginx_tls_port)
    fi
    if [ "${NGINX_TLS_TLS12:-0}" = 1 ]; then
      NGINX_TLS_TLS12_PORT=$(_nginx_tls_port)
    fi
    _nginx_tls_distinct "$NGINX_TLS_H2_PORT" "$NGINX_TLS_H1_PORT" \
      "$NGINX_TLS_H2C_PORT" "$NGINX_TLS_TLS12_PORT" || continue
    _nginx_tls_conf "$d"
    rm -f "$d/nginx.pid"
    : >"$d/access.log"
    "$bin" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
      </dev/null >>"$d/stderr" 2>&1 &
    NGINX_TLS_PID=$!
    if _nginx_tls_ready; then
      # the watchdog: nginx ends when the shell that started it does
      (
        trap - EXIT
        while kill -0 "$$" 2>/dev/null && kill -0 "$NGINX_TLS_PID" 2>/dev/null; do
          sleep 1
        done
        kill "$NGINX_TLS_PID" 2>/dev/null
      ) </dev/null >/dev/null 2>&1 &
      _nginx_tls_watchdog=$!
      return 0
    fi
    nginx_tls_stop
  done
  echo "nginx_tls: nginx would not start; its errors:" >&2
  cat "$d/stderr" "$d/error.log" >&2 2>/dev/null || true
  return 1
}

# _nginx_tls_trap: nginx_tls_stop on exit, before what the EXIT trap did
# already (once). A script that sets its EXIT trap after nginx_tls_start
# must call nginx_tls_stop in it.
# shellcheck disable=SC2120 # set -- below sets its own arguments
_nginx_tls_trap() {
  [ -z "$_nginx_tls_trapped" ] || return 0
  _nginx_tls_trapped=1
  local prev
  prev=$(trap -p EXIT)
  if [ -n "$prev" ]; then
    # prev is `trap -- 'COMMAND' EXIT`: COMMAND is the third word
    eval "set -- $prev"
    # shellcheck disable=SC2064 # the command it had, expanded now
    trap "nginx_tls_stop; $3" EXIT
  else
    trap nginx_tls_stop EXIT
  fi
}

# nginx_tls_stop: stops nginx (TERM, then KILL after 3 s) and its
# watchdog; nothing if none runs. The files stay in NGINX_TLS_DIR.
nginx_tls_stop() {
  local _i
  if [ -n "$_nginx_tls_watchdog" ]; then
    # (not waited for: bash may have reaped it already, and says so)
    kill "$_nginx_tls_watchdog" 2>/dev/null || true
    _nginx_tls_watchdog=
  fi
  if [ -n "$NGINX_TLS_PID" ]; then
    kill "$NGINX_TLS_PID" 2>/dev/null || true
    for ((_i = 0; _i < 60; _i++)); do
      kill -0 "$NGINX_TLS_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$NGINX_TLS_PID" 2>/dev/null || true
    wait "$NGINX_TLS_PID" 2>/dev/null || true
    NGINX_TLS_PID=
  fi
  return 0
}

# _nginx_tls_probe: one request (a connection of its own) to
# /__nginx_tls_mark on the HTTP/1.1 server; prints the line number of its
# log line once written.
_nginx_tls_probe() {
  local n _i
  curl -sf --cacert "$NGINX_TLS_CA" -o /dev/null \
    "https://127.0.0.1:$NGINX_TLS_H1_PORT/__nginx_tls_mark" || return 1
  for ((_i = 0; _i < 100; _i++)); do
    n=$(grep -n ' /__nginx_tls_mark ' "$NGINX_TLS_LOG" | tail -1 | cut -d: -f1)
    if [ -n "$n" ]; then
      echo "$n"
      return 0
    fi
    sleep 0.02
  done
  return 1
}

# nginx_tls_mark: before a run, a mark in the log (prints its line
# number, for nginx_tls_summary). The mark is a request of its own.
nginx_tls_mark() {
  local before n
  before=$(wc -l <"$NGINX_TLS_LOG")
  n=$(_nginx_tls_probe) || return 1
  # the mark just made, not an earlier one
  [ "$n" -gt "$before" ] || return 1
  echo "$n"
}

# nginx_tls_summary MARK [PORT]: after a run, what the log says of the
# requests since MARK (another mark ends the span, so every request of the
# run is in the log by then), on PORT only if given. Prints one line of
# key=value:
#   requests     requests logged (marks left out)
#   status_ok    of them with status 200
#   http1 http2  of them with HTTP/1.1, HTTP/2.0 (other_proto: the rest)
#   connections  distinct connections that carried a request
#   accepted     TCP connections nginx accepted between the marks, any port,
#                with or without a request (from $connection's serial numbers)
#   full resumed TLS handshakes: connections' first requests with
#                $ssl_session_reused "." and "r" (plain: without TLS)
#   max_active   highest $connections_active seen by a request (every
#                connection open, of every server, the marks' included)
#   max_per_conn the most requests one connection carried
#   per_conn     requests / connections, one decimal
#   secs         from the first request logged to the last ($msec)
#   tls13        requests over TLSv1.3
nginx_tls_summary() {
  local from=$1 port=${2:-} to
  to=$(_nginx_tls_probe) || return 1
  awk -v from="$from" -v to="$to" -v port="$port" '
    NR == from { c0 = $1 }
    NR == to { c1 = $1 }
    NR <= from || NR >= to { next }
    port != "" && $10 != port { next }
    $8 ~ /^\/__nginx_tls_/ { next }
    {
      n++
      if ($9 == 200) ok++
      if ($3 == "HTTP/1.1") h1++
      else if ($3 == "HTTP/2.0") h2++
      else other++
      if (!($1 in per)) conns++
      per[$1]++
      if (per[$1] > maxper) maxper = per[$1]
      if ($2 == 1) {
        if ($4 == "r") resumed++
        else if ($4 == ".") full++
        else plain++
      }
      if ($7 > maxact) maxact = $7
      if ($5 == "TLSv1.3") tls13++
      if (t0 == "" || $6 < t0) t0 = $6
      if ($6 > t1) t1 = $6
    }
    END {
      printf "requests=%d status_ok=%d http1=%d http2=%d other_proto=%d", n, ok, h1, h2, other
      printf " connections=%d accepted=%d full=%d resumed=%d plain=%d", conns, c1 - c0 - 1, full, resumed, plain
      printf " max_active=%d max_per_conn=%d per_conn=%.1f", maxact, maxper, conns ? n / conns : 0
      printf " secs=%.3f tls13=%d\n", n ? t1 - t0 : 0, tls13
    }' "$NGINX_TLS_LOG"
}

# nginx_tls_val SUMMARY KEY: KEY's value in a line of nginx_tls_summary.
nginx_tls_val() {
  local kv
  for kv in $1; do
    if [ "${kv%%=*}" = "$2" ]; then
      echo "${kv#*=}"
      return 0
    fi
  done
  return 1
}
