#!/bin/bash
# SPDX-License-Identifier: MIT
# The command as it is installed and typed (issue #18, parts 5 and 6):
# `cmake --install` puts the man page and the bash and zsh completions
# beside the command; man -l renders the page without a warning and it
# names every flag --help lists (short ones too); the bash completion
# completes --ra to --rate; zsh -n accepts the zsh one; --spool-remove-
# when-done leaves no file behind after a good run against pacer-mock and
# keeps the spool after a failing one, and a run killed part way and
# finished by pacer resume leaves none either; -r 0 is a usage error that
# says what to do; a mistyped flag gets "did you mean". About 2 s.
# Usage: test_pack.sh PACER MOCK BUILD_DIR
set -u
PACER=$1
MOCK=$2
BUILD=$3
. "$(dirname "$0")/lib.sh"

# ---- the installed files ----
stage="$T/stage"
if cmake --install "$BUILD" --prefix "$stage" >"$T/install.log" 2>&1; then
  ok "cmake --install to a private prefix"
else
  bad "cmake --install failed: $(tail -3 "$T/install.log")"
  finish
fi
page="$stage/share/man/man1/pacer.1"
bashc="$stage/share/bash-completion/completions/pacer"
zshc="$stage/share/zsh/site-functions/_pacer"
check "the man page is installed in share/man/man1" test -s "$page"
check "the bash completion is installed" test -s "$bashc"
check "the zsh completion is installed" test -s "$zshc"
check "the command is installed" test -x "$stage/bin/pacer"

# ---- the man page ----
if command -v man >/dev/null; then
  MANWIDTH=80 man --warnings -E UTF-8 -l "$page" >"$T/man.txt" 2>"$T/man.err"
  rc=$?
  check "man -l renders the page (exit 0)" [ "$rc" -eq 0 ]
  if [ -s "$T/man.err" ]; then
    bad "man -l warns: $(head -5 "$T/man.err")"
  else
    ok "man -l renders it without a warning"
  fi
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS'; do
    check "the page has its $s section" grep -q "^$s" "$T/man.txt"
  done
  # Every flag and short flag --help lists, as the page shows it (a flag
  # as typed: ASCII hyphens, not a dash or a hyphen glyph).
  "$PACER" --help >"$T/help.txt"
  missing=
  nflags=0
  for f in $(grep -oE -- '^  (-[a-z], )?--[a-z][a-z0-9.-]*' "$T/help.txt" |
    grep -oE -- '-?-[a-z][a-z0-9.-]*'); do
    nflags=$((nflags + 1))
    grep -qE -- "(^|[ ,])${f//./\\.}([ ,]|$)" "$T/man.txt" ||
      missing="$missing $f"
  done
  if [ "$nflags" -gt 50 ] && [ -z "$missing" ]; then
    ok "the page names all $nflags flags and short flags --help lists"
  else
    bad "the page lacks:${missing:- (only $nflags flags found in --help)}"
  fi
  check "the page shows a flag's default" \
    grep -qE 'Default: 50\.' "$T/man.txt"
else
  skip "no man (scripts/deps installs man-db): the page is not rendered"
fi

# ---- the completions ----
out=$(bash -c 'source "$1"; COMP_WORDS=(pacer send --ra); COMP_CWORD=2; _pacer
  echo "${COMPREPLY[*]}"' _ "$bashc" 2>&1)
check "bash completes --ra to --rate (got '$out')" [ "$out" = "--rate" ]
out=$(bash -c 'source "$1"; COMP_WORDS=(pacer send --queue-policy d)
  COMP_CWORD=3; _pacer; echo "${COMPREPLY[*]}"' _ "$bashc" 2>&1)
check "bash completes a choice (got '$out')" [ "$out" = "drop-oldest-low" ]
out=$(bash -c 'source "$1"; COMP_WORDS=(pacer re); COMP_CWORD=1; _pacer
  echo "${COMPREPLY[*]}"' _ "$bashc" 2>&1)
check "bash completes the command (got '$out')" [ "$out" = "resume" ]
out=$(bash -c 'source "$1"; complete -p pacer' _ "$bashc" 2>&1)
check "the bash completion is bound to pacer" grep -q '_pacer pacer$' <<<"$out"
if command -v zsh >/dev/null; then
  check "zsh -n accepts the zsh completion" zsh -n "$zshc"
  check "the zsh completion is a #compdef file" grep -q '^#compdef pacer' "$zshc"
else
  skip "no zsh (scripts/deps installs it): the zsh completion is not checked"
fi

# ---- flags ----
"$PACER" send -r 0 "$T/none.jsonl" >/dev/null 2>"$T/r0.err"
rc=$?
check "-r 0 is a usage error (exit $rc)" [ "$rc" -eq 2 ]
check "-r 0 says no limit is the default" \
  grep -q "no limit is the default: leave --rate out" "$T/r0.err"
"$PACER" send --rat 5 "$T/none.jsonl" >/dev/null 2>"$T/rat.err"
rc=$?
check "--rat is a usage error (exit $rc)" [ "$rc" -eq 2 ]
check "--rat: did you mean --rate?" grep -q "did you mean --rate?" "$T/rat.err"

# ---- --spool-remove-when-done against pacer-mock ----
start_mock
for i in $(seq 1 20); do
  echo "{\"id\": $i, \"url\": \"$BASE/ok/$i?bytes=5\"}"
done >"$T/good.jsonl"
{
  cat "$T/good.jsonl"
  echo "{\"id\": 21, \"url\": \"$BASE/gone?status=404\"}"
} >"$T/bad.jsonl"

mkdir "$T/run"
"$PACER" send -r 200 -c 4 --weight 1:0 --spool "$T/run/run.db" \
  -o "$T/good.out" --spool-remove-when-done "$T/good.jsonl" 2>"$T/good.err"
rc=$?
check "a good run with --spool-remove-when-done exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "it wrote 20 result lines" [ "$(wc -l <"$T/good.out")" -eq 20 ]
left=$(ls -A "$T/run")
check "it left nothing behind in the spool's directory ('$left')" [ -z "$left" ]
check "it says it removed the spool" grep -q "removed the spool" "$T/good.err"

"$PACER" send -r 200 -c 4 --spool "$T/run/run.db" -o "$T/bad.out" \
  --spool-remove-when-done "$T/bad.jsonl" 2>"$T/bad.err"
rc=$?
check "a run with a failed job exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "it keeps the spool" test -s "$T/run/run.db"
check "it says the spool is kept and why" \
  grep -q "1 jobs failed: the spool .*run.db is kept" "$T/bad.err"

rm -f "$T/run/"*
"$PACER" send -r 200 --spool "$T/run/run.db" -o "$T/plain.out" \
  "$T/good.jsonl" 2>"$T/plain.err"
rc=$?
check "without the flag a good run keeps its spool (exit $rc)" \
  test -s "$T/run/run.db"
check "and the summary offers the flag" \
  grep -q "no longer needed (--spool-remove-when-done removes it)" "$T/plain.err"

# Kept for pacer resume: a run killed part way, resumed to its end, leaves
# nothing behind either.
rm -f "$T/run/"*
for i in $(seq 1 40); do
  echo "{\"id\": $i, \"url\": \"$BASE/slow/$i?latency_ms=40\"}"
done >"$T/slow.jsonl"
"$PACER" send -c 2 --spool "$T/run/run.db" -o "$T/slow.out" -q \
  --spool-remove-when-done "$T/slow.jsonl" 2>"$T/slow.err" &
pid=$!
for _ in $(seq 1 100); do # until a few result lines are out
  [ -f "$T/slow.out" ] && [ "$(wc -l <"$T/slow.out")" -ge 4 ] && break
  sleep 0.02
done
{
  kill -KILL "$pid"
  wait "$pid"
} 2>/dev/null # no "Killed" from the shell
check "the killed run left its spool" test -s "$T/run/run.db"
"$PACER" resume --spool "$T/run/run.db" 2>"$T/resume.err"
rc=$?
check "pacer resume finishes the run (exit $rc)" [ "$rc" -eq 0 ]
check "every job has its result line" \
  [ "$(jq -r .id "$T/slow.out" | sort -un | wc -l)" -eq 40 ]
left=$(ls -A "$T/run")
check "and the resume removed the spool, as the run asked ('$left')" \
  [ -z "$left" ]
stop_mock

finish
