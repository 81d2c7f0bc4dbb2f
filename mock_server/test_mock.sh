#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_mock.sh - black-box test of pacer-mock itself, over loopback, with
# curl and jq. Usage: test_mock.sh PATH/TO/pacer-mock
# Each server is started on a free port (--port 0); its startup line is read
# from a FIFO (no polling), and it must exit 0 on SIGTERM. Every curl call
# has --max-time, so the whole script is bounded in time.
set -u

MOCK=${1:?usage: test_mock.sh PATH/TO/pacer-mock}
[ -x "$MOCK" ] || {
  echo "test_mock: $MOCK is not an executable" >&2
  exit 1
}
for tool in curl jq; do
  command -v "$tool" >/dev/null || {
    echo "test_mock: needs $tool on PATH" >&2
    exit 1
  }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   - $1"; }
fail() {
  echo "FAIL - $1" >&2
  failures=$((failures + 1))
}
# check DESCRIPTION ACTUAL EXPECTED
check() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

C=(curl -sS --max-time 10)

# start NAME [FLAGS...]: sets PORT_<NAME>, PID_<NAME>, FD_<NAME>
start() {
  local name=$1
  shift
  local fifo=$tmp/$name.out
  mkfifo "$fifo"
  "$MOCK" --port 0 --port-file "$tmp/$name.port" "$@" >"$fifo" \
    2>"$tmp/$name.err" &
  local pid=$! fd line
  pids+=("$pid")
  exec {fd}<"$fifo" # keeps the read end open for the server's lifetime
  if ! read -r -t 20 -u "$fd" line; then
    echo "test_mock: $name did not start:" >&2
    cat "$tmp/$name.err" >&2
    exit 1
  fi
  local port=${line##*:}
  check "$name: startup line" "$line" "pacer-mock listening on 127.0.0.1:$port"
  check "$name: port file" "$(cat "$tmp/$name.port")" "$port"
  printf -v "PORT_$name" '%s' "$port"
  printf -v "PID_$name" '%s' "$pid"
  printf -v "FD_$name" '%s' "$fd"
}

# stop NAME: SIGTERM, then the exit status must be 0 within 10 s
stop() {
  local pid_var=PID_$1
  local pid=${!pid_var}
  kill -TERM "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$1: still running 10 s after SIGTERM"
    return
  fi
  wait "$pid"
  check "$1: exit status after SIGTERM" "$?" 0
  if [ -s "$tmp/$1.err" ]; then
    echo "--- $1 stderr:" >&2
    cat "$tmp/$1.err" >&2
  fi
}

code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }
header() { # header NAME URL [CURL ARGS...]: the value of one response header
  local name=$1
  shift
  "${C[@]}" -o /dev/null -D - "$@" | tr -d '\r' |
    sed -n "s/^$name: //Ip" | head -n 1
}
stats() { "${C[@]}" "$U/__stats" | jq -c "$1"; }

# ---- flags ---------------------------------------------------------------
"$MOCK" --host 192.0.2.1 >/dev/null 2>&1
check "non-loopback --host refused" "$?" 2
"$MOCK" --port abc >/dev/null 2>&1
check "bad --port refused" "$?" 2
"$MOCK" --fail-rate 2 >/dev/null 2>&1
check "bad --fail-rate refused" "$?" 2
"$MOCK" --help | grep -q -- '--latency-ms N|A-B'
check "--help documents behaviour flags" "$?" 0
"$MOCK" --help | grep -q -- '--fail-until-ms T'
check "--help documents --fail-until-ms" "$?" 0
"$MOCK" --fail-until-ms -1 >/dev/null 2>&1
check "bad --fail-until-ms refused" "$?" 2

# ---- server A: behaviour -------------------------------------------------
start A
U=http://127.0.0.1:$PORT_A

check "bytes=10: status" "$(code "$U/a?bytes=10")" 200
check "bytes=10: body" "$("${C[@]}" "$U/a?bytes=10")" abcdefghij
check "status=503: status" "$(code "$U/b?status=503&retry_after=1")" 503
check "status=503&retry_after=1: header" \
  "$(header Retry-After "$U/b?status=503&retry_after=1")" 1
date=$(header Retry-After "$U/b?status=429&retry_after_date=5")
[[ $date =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9:]{8}\ GMT$ ]]
check "retry_after_date: an HTTP date ($date)" "$?" 0
check "bad parameter: 400" "$(code "$U/b?status=abc")" 400
# A single digit above a maximum below 9 (endless_headers is 0..2).
check "endless_headers=7: 400" "$(code "$U/b?endless_headers=7")" 400
check "endless_headers=3: 400" "$(code "$U/b?endless_headers=3")" 400

seq=""
for _ in 1 2 3 4; do seq+="$(code "$U/f?job=J1&fail_first=2") "; done
check "fail_first=2 by job= query" "$seq" "503 503 200 200 "
seq=""
for _ in 1 2 3; do
  seq+="$(code -H 'X-Job-Id: J2' "$U/f?fail_first=2&fail_status=429") "
done
check "fail_first=2 by X-Job-Id header, fail_status=429" "$seq" "429 429 200 "

check "redirect=file: status" "$(code "$U/r?redirect=file")" 302
check "redirect=file: Location" \
  "$(header Location "$U/r?redirect=file")" "file:///etc/passwd"
check "redirect=gopher, redirect_code=307: status" \
  "$(code "$U/r?redirect=gopher&redirect_code=307")" 307
check "redirect=gopher: Location" \
  "$(header Location "$U/r?redirect=gopher")" "gopher://127.0.0.1/"
check "redirect=port: Location" \
  "$(header Location "$U/r?redirect=port&to_port=9")" \
  "http://127.0.0.1:9/final"
check "ratelimit_headers=1: RateLimit" \
  "$(header RateLimit "$U/h?ratelimit_headers=1")" \
  "limit=10, remaining=9, reset=1"

"${C[@]}" -o /dev/null "$U/d?drop=1" 2>/dev/null
check "drop=1: empty reply (curl exit 52)" "$?" 52
"${C[@]}" -o /dev/null "$U/g?garbage=1" 2>/dev/null
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 7 ] && [ "$rc" -ne 28 ]
check "garbage=1: curl rejects the status line (exit $rc)" "$?" 0
t=$("${C[@]}" -o /dev/null -w '%{time_total}' "$U/l?latency_ms=300")
check "latency_ms=300 takes >= 0.3 s ($t)" \
  "$(jq -n "$t >= 0.299")" true
out=$("${C[@]}" -N -o /dev/null -w '%{time_total} %{size_download}' \
  "$U/t?trickle=1&bytes=3&trickle_ms=100")
check "trickle=1: 3 bytes over >= 0.2 s ($out)" \
  "$(jq -n "${out% *} >= 0.199 and ${out#* } == 3")" true
"${C[@]}" --compressed -o "$tmp/bomb" "$U/z?gzip_bomb=1000000"
check "gzip_bomb=1000000 inflates to 1000000 bytes" \
  "$(wc -c <"$tmp/bomb" | tr -d ' ')" 1000000
check "gzip_bomb: small on the wire" \
  "$("${C[@]}" -o /dev/null -w '%{size_download}' "$U/z?gzip_bomb=1000000" |
    jq '. < 10000')" true
"${C[@]}" -o /dev/null "$U/e?endless_headers=1&endless_bytes=1000000" \
  2>/dev/null
rc=$?
check "endless_headers=1: curl gives up (exit $rc)" "$([ $rc -ne 0 ] && echo y)" y

# Headers are recorded, so a test can see what followed a redirect.
"${C[@]}" -o /dev/null -H 'Authorization: Bearer s3cret' -H 'X-Api-Key: k1' \
  "$U/rec?job=R1"
last=$("${C[@]}" "$U/__requests" | jq -c '.requests[-1]')
check "/__requests: path" "$(jq -r .path <<<"$last")" /rec
check "/__requests: query" "$(jq -r .query.job <<<"$last")" R1
check "/__requests: Authorization" \
  "$(jq -r .headers.Authorization <<<"$last")" "Bearer s3cret"
check "/__requests: X-Api-Key" "$(jq -r '.headers["X-Api-Key"]' <<<"$last")" k1

# What was sent: method, body length and FNV-1a 64 of the body.
check "/__requests: GET body_bytes" "$(jq -r .body_bytes <<<"$last")" 0
check "/__requests: empty body hash" "$(jq -r .body_fnv1a <<<"$last")" \
  cbf29ce484222325
"${C[@]}" -o /dev/null -X POST -H 'Content-Type: application/json' \
  --data-binary '{"a":1}' "$U/body"
printf '\x00\xff\x01\r\n\x80' >"$tmp/bin"
"${C[@]}" -o /dev/null -X PUT --data-binary "@$tmp/bin" "$U/body"
"${C[@]}" -o /dev/null -X PATCH --data-binary '' "$U/body"
bodies=$("${C[@]}" "$U/__requests" | jq -c '[.requests[-3:][] |
  [.method, .body_bytes, .body_fnv1a, .headers["Content-Type"]]]')
check "/__requests: POST, PUT, PATCH bodies" "$bodies" \
  '[["POST",7,"9c3e82dd6fcae8b1","application/json"],'\
'["PUT",6,"6089f94f376d0630","application/x-www-form-urlencoded"],'\
'["PATCH",0,"cbf29ce484222325","application/x-www-form-urlencoded"]]'

check "/__stats: duplicates before reset" "$(stats .duplicates)" '["J1","J2"]'
check "/__stats: dropped" "$(stats .dropped)" 1
check "/__stats: garbage" "$(stats .garbage)" 1

# Reset, then exact counts.
check "GET /__reset is refused" "$(code "$U/__reset")" 405
check "POST /__reset" "$("${C[@]}" -X POST "$U/__reset")" '{"reset":true}'
check "after reset: total" "$(stats .total)" 0
check "after reset: arrivals" "$(stats '.arrivals | length')" 0
check "after reset: /__requests empty" \
  "$("${C[@]}" "$U/__requests" | jq '.requests | length')" 0

urls=()
for _ in 1 2 3 4 5 6 7; do urls+=("$U/w?job=W&prio=high"); done
"${C[@]}" -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -o /dev/null -o /dev/null "${urls[@]}"
check "7 requests: total" "$(stats .total)" 7
check "7 requests: per path" "$(stats '.paths["/w"]')" 7
check "7 requests: max_1s_window" "$(stats .max_1s_window)" 7
check "7 requests on one keep-alive connection" "$(stats .connections)" 1
check "7 requests: per_second sums to 7" "$(stats '.per_second | add')" 7
check "7 requests: status_counts" "$(stats .status_counts)" '{"200":7}'
check "7 requests: arrivals carry job and priority" \
  "$(stats '[.arrivals[] | .job + ":" + .priority] | unique')" '["W:high"]'
check "7 requests: duplicates" "$(stats .duplicates)" '["W"]'
check "control endpoints are not counted" "$(stats .total)" 7
sleep 1.1
for _ in 1 2 3; do "${C[@]}" -o /dev/null "$U/w"; done
check "3 more a second later: total" "$(stats .total)" 10
check "3 more a second later: max_1s_window still 7" \
  "$(stats .max_1s_window)" 7

# Five requests at once, each held 1 s: all five in progress together.
"${C[@]}" -X POST -o /dev/null "$U/__reset"
purls=()
for i in 1 2 3 4 5; do purls+=(-o /dev/null "$U/p?latency_ms=1000&job=P$i"); done
t=$("${C[@]}" --no-progress-meter -Z --parallel-immediate --parallel-max 5 -w '%{time_total}\n' \
  "${purls[@]}" | sort -n | tail -n 1)
check "5 parallel latency_ms=1000: peak_concurrency" \
  "$(stats .peak_concurrency)" 5
check "5 parallel: 5 connections" "$(stats .connections)" 5
check "5 parallel: none in flight afterwards" "$(stats .in_flight)" 0
check "5 parallel: served together (slowest $t s)" \
  "$(jq -n "$t < 1.9")" true

# fail_until_ms: a path that fails until T ms after start or reset, then
# recovers. Each arrival's status agrees with its t_ms.
"${C[@]}" -X POST -o /dev/null "$U/__reset"
seq="$(code "$U/u?fail_until_ms=600000") "
seq+="$(code "$U/u?fail_until_ms=600000&fail_status=500") "
seq+="$(code "$U/u?fail_until_ms=1")"
check "fail_until_ms: 503, then fail_status=500, then recovered" "$seq" \
  "503 500 200"
check "fail_until_ms: /__stats lists those statuses" \
  "$(stats '[.arrivals[].status]')" '[503,500,200]'
check "fail_until_ms=abc: 400" "$(code "$U/u?fail_until_ms=abc")" 400
sleep 0.3
check "fail_until_ms=250, 0.3 s after the reset: 200" \
  "$(code "$U/u?fail_until_ms=250")" 200
"${C[@]}" -X POST -o /dev/null "$U/__reset"
check "fail_until_ms=250 right after another reset: 503" \
  "$(code "$U/u?fail_until_ms=250")" 503
check "fail_until_ms: t_ms < 250 for that 503" \
  "$(stats '.arrivals[0] | .t_ms < 250 and .status == 503')" true

# ---- generated content (site.c) -----------------------------------------
"${C[@]}" -X POST -o /dev/null "$U/__reset"
page=$("${C[@]}" "$U/site/0")
check "/site/0: heading" "$(grep -c '<h1>Page 0</h1>' <<<"$page")" 1
check "/site/0: 5 links, then the missing page" \
  "$(grep -o 'href="[^"]*"' <<<"$page" | tr '\n' ' ')" \
  'href="/site/1" href="/site/14" href="/site/27" href="/site/40" href="/site/53" href="/site/999999" '
check "/site/0: Content-Type" "$(header Content-Type "$U/site/0")" \
  "text/html; charset=utf-8"
check "/site/49?pages=50&links=2: hrefs keep the query" \
  "$("${C[@]}" "$U/site/49?pages=50&links=2" | grep -o 'href="[^"]*"' |
    tr '\n' ' ')" \
  'href="/site/0?pages=50&links=2" href="/site/7?pages=50&links=2" href="/site/999999?pages=50&links=2" '
check "/site/50?pages=50: 404" "$(code "$U/site/50?pages=50")" 404
check "/site/999999: 404" "$(code "$U/site/999999")" 404
check "/site/1?pages=0: 400" "$(code "$U/site/1?pages=0")" 400
check "/site/1?status=503: behaviour still applies" \
  "$(code "$U/site/1?status=503")" 503
check "/items?count=3" "$("${C[@]}" "$U/items?count=3")" \
  '{"items":[{"id":1,"url":"/item/1"},{"id":2,"url":"/item/2"},{"id":3,"url":"/item/3"}]}'
check "/items: 20 by default" "$("${C[@]}" "$U/items" | jq '.items | length')" 20
check "/item/7" "$("${C[@]}" "$U/item/7")" '{"id":7,"price":60}'
check "/item/1../item/10: sum of prices" \
  "$(for k in $(seq 10); do "${C[@]}" "$U/item/$k"; done | jq -s 'map(.price) | add')" \
  "$(jq -n '[range(1;11) | (. * 37) % 100 + 1] | add')"
check "generated paths are counted" \
  "$(stats '[.paths["/site/0"], .paths["/site/999999"], .status_counts["404"]]')" \
  '[2,1,2]'

# ---- server S: --site-pages ------------------------------------------------
"$MOCK" --site-pages 0 >/dev/null 2>&1
check "bad --site-pages refused" "$?" 2
start S --site-pages 10
U=http://127.0.0.1:$PORT_S
check "--site-pages 10: /site/9 exists" "$(code "$U/site/9")" 200
check "--site-pages 10: /site/10 is 404" "$(code "$U/site/10")" 404
check "--site-pages 10: links wrap" \
  "$("${C[@]}" "$U/site/9" | grep -o 'href="[^"]*"' | head -n 2 | tr '\n' ' ')" \
  'href="/site/0" href="/site/7" '
stop S

# ---- server B: the server's own token bucket -----------------------------
start B --limit 0.5 --burst 2
UB=http://127.0.0.1:$PORT_B
codes=$("${C[@]}" -w '%{http_code} ' -o /dev/null -o /dev/null -o /dev/null \
  -o /dev/null -o /dev/null "$UB/x" "$UB/x" "$UB/x" "$UB/x" "$UB/x")
check "limit 0.5/s burst 2: five at once" "$codes" "200 200 429 429 429 "
check "limiter's 429 has Retry-After: 1" "$(header Retry-After "$UB/x")" 1
U=$UB
check "limiter: overshoot" "$(stats .overshoot)" 4
check "limiter: status_counts" "$(stats .status_counts)" \
  '{"200":2,"429":4}'
check "control endpoints are never limited" "$(code "$UB/__stats")" 200
"${C[@]}" -X POST -o /dev/null "$UB/__reset"
check "reset refills the bucket" "$(code "$UB/x")" 200
check "reset clears overshoot" "$(stats .overshoot)" 0

# ---- server Q: a fixed-window quota, announced -----------------------------
"$MOCK" --announce ietf >/dev/null 2>&1
check "--announce without --quota refused" "$?" 2
"$MOCK" --quota 0 >/dev/null 2>&1
check "--quota 0 refused" "$?" 2
"$MOCK" --quota 5 --quota-per nobody >/dev/null 2>&1
check "bad --quota-per refused" "$?" 2
"$MOCK" --quota 5 --quota-window-s 0 >/dev/null 2>&1
check "--quota-window-s 0 refused" "$?" 2
"$MOCK" --help | grep -q -- '--quota-per server|path|addr|header:NAME'
check "--help documents --quota-per" "$?" 0

start Q --quota 3 --quota-window-s 3 --announce x-ratelimit,ietf
U=http://127.0.0.1:$PORT_Q
# hdrs URL [CURL ARGS...]: status line and rate-limit fields, one per line
hdrs() {
  "${C[@]}" -o /dev/null -D - "$@" | tr -d '\r' |
    grep -iE '^(HTTP/|x-ratelimit|ratelimit|retry-after)' | tr '\n' '|'
}
# Window 0 is t_ms [0, 3000) from the reset: all of this fits in it, even
# on a loaded machine.
"${C[@]}" -X POST -o /dev/null "$U/__reset"
codes=$("${C[@]}" -w '%{http_code} ' -o /dev/null -o /dev/null -o /dev/null \
  -o /dev/null "$U/q" "$U/q" "$U/q" "$U/q")
check "quota 3 per 3 s: four at once" "$codes" "200 200 200 429 "
h=$(hdrs "$U/q")
t=$(sed -n 's/.*X-RateLimit-Reset: \([0-9]*\)|.*/\1/p' <<<"$h")
check "quota: the 429 announces an empty window, no Retry-After (t=$t)" \
  "$h" \
  "HTTP/1.1 429 Too Many Requests|X-RateLimit-Limit: 3|X-RateLimit-Remaining: 0|X-RateLimit-Reset: $t|RateLimit-Policy: \"q\";q=3;w=3|RateLimit: \"q\";r=0;t=$t|"
check "quota: Reset is the seconds left in the window, 1..3" \
  "$([ "${t:-0}" -ge 1 ] && [ "$t" -le 3 ] && echo y)" y
check "quota: a 400 is announced too (neither charged nor refused)" \
  "$(hdrs "$U/q?status=abc" | cut -d'|' -f1,3)" \
  'HTTP/1.1 400 Bad Request|X-RateLimit-Remaining: 0'
check "quota: all in window 0" "$(stats '[.arrivals[].t_ms < 3000] | all')" \
  true
check "quota: refused, refused_by, overshoot" \
  "$(stats '[.refused, .refused_by.quota, .refused_by.limit, .overshoot]')" \
  '[2,2,0,0]'
check "quota: arrivals say which were refused" \
  "$(stats '[.arrivals[] | .status, .refused]')" \
  '[200,null,200,null,200,null,429,"quota",429,"quota",400,null]'
check "quota: refused_per_second sums to 2" \
  "$(stats '.refused_per_second | add')" 2
check "quota: /__stats describes it" "$(stats .quota)" \
  '{"limit":3,"window_s":3,"per":"server","keys":1,"silent":false,"announce":["x-ratelimit","ietf"]}'
# Into window 1: t_ms 3000 and on.
sleep "$(stats '(3050 - .elapsed_ms) / 1000 | if . < 0 then 0 else . end')"
check "quota: the next window accepts again" \
  "$(hdrs "$U/q" | cut -d'|' -f1,3,6)" \
  'HTTP/1.1 200 OK|X-RateLimit-Remaining: 2|RateLimit: "q";r=2;t=3'
check "quota: that arrival is in window 1" \
  "$(stats '.arrivals[-1] | (.t_ms >= 3000 and .t_ms < 6000)')" true
now=$(date +%s)
reset=$(header X-RateLimit-Reset "$U/q?announce=x-ratelimit-unix")
check "announce=x-ratelimit-unix: Reset a Unix time ($reset, now $now)" \
  "$([ "${reset:-0}" -ge "$now" ] && [ "$reset" -le $((now + 5)) ] && echo y)" y
check "announce=ietf-old" "$(hdrs "$U/q?announce=ietf-old" | cut -d'|' -f2-3)" \
  'RateLimit-Limit: 3|RateLimit-Remaining: 0'
check "announce=none: no fields" "$(hdrs "$U/q?announce=none")" \
  'HTTP/1.1 429 Too Many Requests|'
check "limit_silent=1: a bare 429, even with ratelimit_headers=1" \
  "$(hdrs "$U/q?limit_silent=1&ratelimit_headers=1&retry_after=5")" \
  'HTTP/1.1 429 Too Many Requests|'
check "announce=bogus: 400" "$(code "$U/q?announce=bogus")" 400
check "announce with both X-RateLimit forms: 400" \
  "$(code "$U/q?announce=x-ratelimit,x-ratelimit-unix")" 400
"${C[@]}" -X POST -o /dev/null "$U/__reset"
check "reset empties the quota" "$(code "$U/q")" 200
stop Q

# ---- server QK: one quota per path, per header, per address ---------------
start QP --quota 1 --quota-window-s 60 --quota-per path --announce ietf
U=http://127.0.0.1:$PORT_QP
seq="$(code "$U/a") $(code "$U/a") $(code "$U/b")"
check "quota per path: /a, /a, /b" "$seq" "200 429 200"
pa=$(header RateLimit "$U/a")
pb=$(header RateLimit "$U/b")
[[ $pa =~ ^\"q\"\;r=0\;t=[0-9]+\;pk=:[A-Za-z0-9+/]{11}=:$ ]]
check "quota per path: RateLimit carries pk ($pa)" "$?" 0
check "quota per path: pk differs between paths" \
  "$([ "${pa##*pk=}" != "${pb##*pk=}" ] && echo y)" y
check "quota per path: /__stats keys" "$(stats .quota.keys)" 2
stop QP
start QH --quota 1 --quota-window-s 60 --quota-per header:X-Api-Key
U=http://127.0.0.1:$PORT_QH
seq="$(code -H 'X-Api-Key: k1' "$U/a") $(code -H 'X-Api-Key: k1' "$U/b")"
seq+=" $(code -H 'X-Api-Key: k2' "$U/a") $(code "$U/a") $(code "$U/a")"
check "quota per header: k1, k1, k2, none, none" "$seq" "200 429 200 200 429"
stop QH
start QA --quota 1 --quota-window-s 60 --quota-per addr
U=http://127.0.0.1:$PORT_QA
if "${C[@]}" -o /dev/null --interface 127.0.0.2 "$U/a" 2>/dev/null; then
  seq="$(code --interface 127.0.0.2 "$U/a") $(code "$U/a") $(code "$U/a")"
  check "quota per addr: 127.0.0.2 again, 127.0.0.1 twice" "$seq" \
    "429 200 429"
else
  echo "skip - quota per addr (cannot bind 127.0.0.2)"
fi
stop QA

# ---- server L: the token bucket, silent -----------------------------------
start L --limit 0.5 --burst 2 --limit-silent --ratelimit-headers 1
U=http://127.0.0.1:$PORT_L
codes=$("${C[@]}" -w '%{http_code} ' -o /dev/null -o /dev/null -o /dev/null \
  -o /dev/null -o /dev/null "$U/x" "$U/x" "$U/x" "$U/x" "$U/x")
check "silent limit 0.5/s burst 2: five at once" "$codes" \
  "200 200 429 429 429 "
check "silent limit: a bare 429 (no Retry-After, no RateLimit fields)" \
  "$(hdrs "$U/x")" 'HTTP/1.1 429 Too Many Requests|'
check "silent limit: refused, refused_by, overshoot" \
  "$(stats '[.refused, .refused_by.quota, .refused_by.limit, .overshoot]')" \
  '[4,0,4,4]'
check "silent limit: /__stats says so" "$(stats .limit.silent)" true
check "silent limit: refused_per_second sums to 4" \
  "$(stats '.refused_per_second | add')" 4
check "silent limit: arrivals" "$(stats '[.arrivals[].refused]')" \
  '[null,null,"limit","limit","limit","limit"]'
stop L

# ---- server K: latency that grows past a knee -----------------------------
start K --latency-ms 200 --latency-knee 2
U=http://127.0.0.1:$PORT_K
t1=$("${C[@]}" -o /dev/null -w '%{time_total}' "$U/k")
check "knee 2: one alone takes its base 200 ms" "$(stats '.arrivals[0].delay_ms')" \
  200
"${C[@]}" -X POST -o /dev/null "$U/__reset"
kurls=()
for i in 1 2 3 4 5 6; do kurls+=(-o /dev/null "$U/k?job=K$i"); done
t6=$("${C[@]}" --no-progress-meter -Z --parallel-immediate --parallel-max 6 \
  -w '%{time_total}\n' "${kurls[@]}" | sort -n | tail -n 1)
# in_flight n at arrival: 200 * max(1, n / 2); six at once are n = 1..6,
# [200,200,300,400,500,600] (fewer at once on a loaded machine).
d=$(stats '[.arrivals[].delay_ms] | sort')
check "knee 2: six at once, delay_ms grows with in_flight ($d)" \
  "$(jq -c '(max >= 400) and all(. % 100 == 0 and . >= 200 and . <= 600)' \
    <<<"$d")" true
check "knee 2: the slowest of six took longer ($t6 s, alone $t1 s)" \
  "$(jq -n "$t6 >= 0.39")" true
check "latency_knee=1 as a query parameter" \
  "$("${C[@]}" -o /dev/null "$U/k?latency_knee=1&latency_ms=10" &&
    stats '.arrivals[-1].delay_ms')" 10
check "latency_knee=abc: 400" "$(code "$U/k?latency_knee=abc")" 400
stop K

stop A
stop B

# ---- optional: HTTPS with a self-signed certificate ----------------------
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" 2>/dev/null
  start T --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
  UT=https://127.0.0.1:$PORT_T
  check "https with its CA" "$(code --cacert "$tmp/cert.pem" "$UT/s")" 200
  "${C[@]}" -o /dev/null "$UT/s" 2>/dev/null
  check "https without its CA is refused (curl exit 60)" "$?" 60
  stop T
else
  echo "skip - https (no openssl command)"
fi

if [ "$failures" -ne 0 ]; then
  echo "test_mock: $failures check(s) failed" >&2
  exit 1
fi
echo "test_mock: all checks passed"
