#!/bin/bash
# SPDX-License-Identifier: MIT
# Every flag `pacer --help` lists is described in docs/COMMAND.md, and
# every flag COMMAND.md names is one `pacer --help` lists: the two cannot
# drift apart.
# Usage: test_help_docs.sh PACER COMMAND.md
set -u
PACER=$1
DOC=$2
fail=0
# A flag may hold a dot (--http1.1); one that ends a sentence does not.
help=$("$PACER" --help 2>&1 | grep -o -- '--[a-z][a-z0-9.-]*' |
  sed 's/\.*$//' | sort -u)
for f in $help; do
  if grep -q -- "${f//./\\.}\b" "$DOC"; then echo "ok   - $f is in COMMAND.md"; else
    echo "FAIL - $f is listed by --help but not described in COMMAND.md"
    fail=1
  fi
done
# Flags the document names (in backquotes), minus those of other tools.
for f in $(grep -o -- '`--[a-z][a-z0-9.-]*' "$DOC" | tr -d '`' |
  sed 's/\.*$//' | sort -u); do
  if ! printf '%s\n' $help | grep -qx -- "$f"; then
    echo "FAIL - COMMAND.md names $f, which --help does not list"
    fail=1
  fi
done
exit $fail
