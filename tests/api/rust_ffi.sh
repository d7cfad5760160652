#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds tests/api/api_ffi.rs with the Debian rustc against the library in
# the build tree and runs it (no launcher). Exit 77 (skip) without rustc.
# Usage: rust_ffi.sh LIBDIR
set -u
libdir=$1
command -v rustc >/dev/null || { echo "rustc not found (Debian rustc): skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rustc -O -L "$libdir" -C link-args=-Wl,-rpath,"$libdir" -o "$work/api_ffi" \
  "$(dirname "$0")/api_ffi.rs" || { echo "FAIL: rustc"; exit 1; }
timeout 60 "$work/api_ffi"
