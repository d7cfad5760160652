#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static checks of the source tree, run by CTest:
#   lint.sh thread-safety   clang's -Wthread-safety over core/, ioring/, shim/:
#                           every GH_GUARDED_BY field is touched under its lock
#   lint.sh format          the code follows .clang-format
# Exit 77 (skipped) when the tool is not installed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
sources=(core/*.cc ioring/*.cc shim/*.cc)
case "${1:-}" in
  thread-safety)
    command -v clang++ > /dev/null || { echo "SKIP: clang++ not installed"; exit 77; }
    rc=0
    for f in "${sources[@]}"; do
      clang++ -std=c++20 -fsyntax-only -I. -Wthread-safety -Werror=thread-safety "$f" || rc=1
    done
    exit $rc ;;
  format)
    command -v clang-format > /dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
    clang-format --dry-run -Werror core/*.h core/*.cc ioring/*.h ioring/*.cc shim/*.h \
      "${sources[@]}" scripts/launcher/*.cc tests/unit/*.h tests/unit/*.cc tests/shim/*.cc ;;
  *) echo "usage: lint.sh thread-safety|format" >&2; exit 2 ;;
esac
