#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Multi-threaded stock tools give the same bytes under the shim (all their
# threads green, on one carrier) as natively:
#   1. `sort --parallel=8 -S 64M` (and `sort -n`) of 2 million lines of
#      pseudo-random numbers from a fixed seed; -S 64M is too small for the
#      input, so sort also merges through temporary files;
#   2. `xz -T4` and `zstd -T4`, when installed: compressed bytes identical to
#      the native multi-threaded run (checked only when two native runs agree,
#      that is when the tool is deterministic for a given thread count), and
#      multi-threaded decompression under the shim gives back the input;
#   3. with strace: natively these tools create OS threads, under the shim none.
#
# usage: parallel_tools.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need sort

SECONDS=0
input="$WORK/numbers.txt"
"$PY" - "$input" <<'EOF'
import random, sys
r = random.Random(20240601)
with open(sys.argv[1], "w") as f:
    for _ in range(20):
        f.write("".join("%d\n" % r.getrandbits(40) for _ in range(100000)))
EOF
lines="$(wc -l < "$input")"
[ "$lines" -eq 2000000 ] || { fail "generator wrote $lines lines"; finish; }
mkdir -p "$WORK/tmp-native" "$WORK/tmp-shim"

# --- 1. sort ---------------------------------------------------------------
for variant in plain numeric; do
  key=()
  [ "$variant" = numeric ] && key=(-n)
  flags=(--parallel=8 -S 64M "${key[@]}")
  name="sort ${flags[*]}"
  timeout 120 sort "${flags[@]}" -T "$WORK/tmp-native" -o "$WORK/sort-native" "$input"
  rc_n=$?
  timeout 120 "$GH" sort "${flags[@]}" -T "$WORK/tmp-shim" -o "$WORK/sort-shim" "$input"
  rc_s=$?
  if [ $rc_n -ne 0 ] || [ $rc_s -ne 0 ]; then
    fail "$name: exit codes native $rc_n, shim $rc_s"
  elif ! sort -C "${key[@]}" "$WORK/sort-native"; then
    fail "$name: native output is not sorted (test bug)"
  elif [ "$(wc -l < "$WORK/sort-native")" -ne 2000000 ]; then
    fail "$name: native output has $(wc -l < "$WORK/sort-native") lines"
  elif cmp -s "$WORK/sort-native" "$WORK/sort-shim"; then
    pass "$name: output identical to the native run ($(stat -c %s "$WORK/sort-shim") bytes)"
  else
    fail "$name: output differs from the native run: $(cmp "$WORK/sort-native" "$WORK/sort-shim" 2>&1 | head -1)"
  fi
  # no temporary file left behind by either run
  [ -z "$(ls -A "$WORK/tmp-shim")" ] || fail "$name: shim run left temporary files"
  rm -f "$WORK/sort-native" "$WORK/sort-shim"
done

# --- 2. compressors --------------------------------------------------------
# compressor NAME INPUT COMPRESS_ARGS... -- DECOMPRESS_ARGS...
compressor() {
  local tool="$1" in="$2"; shift 2
  local cargs=() dargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cargs+=("$1"); shift; done
  shift
  dargs=("$@")
  local name="$tool ${cargs[*]}" a="$WORK/$tool.native1" b="$WORK/$tool.native2" s="$WORK/$tool.shim"
  if ! command -v "$tool" >/dev/null; then
    log "SKIP: $tool not installed"
    return
  fi
  timeout 120 "$tool" "${cargs[@]}" -c "$in" > "$a" || { fail "$name: native run failed"; return; }
  timeout 120 "$tool" "${cargs[@]}" -c "$in" > "$b" || { fail "$name: native run failed"; return; }
  timeout 120 "$GH" "$tool" "${cargs[@]}" -c "$in" > "$s"
  local rc=$?
  [ $rc -eq 0 ] || { fail "$name: shim run exited $rc"; return; }
  if cmp -s "$a" "$b"; then
    if cmp -s "$a" "$s"; then
      pass "$name: compressed bytes identical to the native run ($(stat -c %s "$s") bytes)"
    else
      fail "$name: compressed bytes differ from the (deterministic) native run: $(cmp "$a" "$s" 2>&1 | head -1)"
    fi
  else
    log "NOTE: $name is not deterministic natively; comparing decompressed output only"
  fi
  # round trips: shim-compressed through shim decompression, and
  # natively compressed through shim decompression
  local f
  for f in "$s" "$a"; do
    if timeout 120 "$GH" "$tool" "${dargs[@]}" -c "$f" | cmp -s - "$in"; then
      pass "$name: shim decompression (${dargs[*]}) of $(basename "$f") gives back the input"
    else
      fail "$name: shim decompression (${dargs[*]}) of $(basename "$f") does not give back the input"
    fi
  done
  # and the shim's output decompresses natively
  timeout 120 "$tool" "${dargs[@]}" -c "$s" | cmp -s - "$in" \
    || fail "$name: native decompression of the shim's output does not give back the input"
  rm -f "$a" "$b" "$s"
}

# xz is slow: 8 MB at -1 in 512 KiB blocks (16 blocks for 4 threads)
head -c $((8 * 1024 * 1024)) "$input" > "$WORK/xz-input"
compressor xz "$WORK/xz-input" -T4 -1 --block-size=512KiB -- -T4 -d
compressor zstd "$input" -q -T4 -3 -- -q -T4 -d

# --- 3. the threads really are green -----------------------------------------
# Natively each tool creates OS threads (clone with CLONE_THREAD); under the
# shim its threads must create none. The runtime's own OS threads (the other
# carriers, the hand-off monitor, the control thread) would be counted too,
# so this run has one carrier, no hand-off and no control thread: then every
# clone would be one of the program's.
# Needs strace; skipped without it.
thread_clones() {  # thread_clones LOG CMD...: runs CMD under strace, prints the count
  local logf="$1"; shift
  timeout 120 strace -f -qq --seccomp-bpf -e trace=clone,clone3 -o "$logf" "$@" > /dev/null 2>&1
  grep -c 'CLONE_THREAD' "$logf"
}
if command -v strace >/dev/null && strace -qq --seccomp-bpf -e trace=clone true >/dev/null 2>&1; then
  checks=("sort --parallel=8 -S 64M -T $WORK/tmp-native -o /dev/null $input")
  command -v xz >/dev/null && checks+=("xz -T4 -1 --block-size=512KiB -c $WORK/xz-input")
  command -v zstd >/dev/null && checks+=("zstd -q -T4 -3 -c $input")
  for c in "${checks[@]}"; do
    read -r -a cmd <<< "$c"
    n="$(thread_clones "$WORK/strace-native" "${cmd[@]}")"
    g="$(GREENHOUSE_CARRIERS=1 GREENHOUSE_HANDOFF_MS=0 GREENHOUSE_CONTROL=0 thread_clones "$WORK/strace-shim" "$GH" "${cmd[@]}")"
    if [ "$n" -gt 0 ] && [ "$g" -eq 0 ]; then
      pass "${cmd[0]}: natively $n OS threads created, under the shim none (green)"
    elif [ "$n" -eq 0 ]; then
      log "NOTE: ${cmd[0]} created no OS thread natively; nothing to compare"
    else
      fail "${cmd[0]}: under the shim $g OS threads created (natively $n), expected none"
      grep CLONE_THREAD "$WORK/strace-shim" | head -3 >&2
    fi
  done
else
  log "SKIP: strace not usable; not checking that the threads are green"
fi

log "time: ${SECONDS}s"
finish
