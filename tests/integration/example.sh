#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs an example (examples/) linked with libgreenhouse: first as it is (no
# LD_PRELOAD), then under the launcher. Each run must exit 0 (the example
# checks its own results) and both must print the same.
# Usage: example.sh LAUNCHER EXAMPLE
set -u
launcher=$1 example=$2
name=$(basename "$example")
direct=$(timeout 60 "$example" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
  printf 'FAIL %s (linked, no launcher): exit %d\n%s\n' "$name" $rc "$direct"
  exit 1
fi
launched=$(timeout 60 "$launcher" "$example" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
  printf 'FAIL %s (under the launcher): exit %d\n%s\n' "$name" $rc "$launched"
  exit 1
fi
if [ "$direct" != "$launched" ]; then
  printf 'FAIL %s: output differs (--- linked, +++ launcher)\n' "$name"
  diff <(printf '%s\n' "$direct") <(printf '%s\n' "$launched")
  exit 1
fi
printf '%s\n' "$direct"
