#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ripgrep (rg, Rust, a parallel directory walker and searcher) natively and
# under the shim over a generated tree of 360 files (nested directories,
# files up to 1 MiB, an .ignore'd directory, hidden and binary files, known
# matches): `rg -j4 --sort path`, unsorted parallel searches (output sorted
# by the test: rg prints each file's matches together), counts, file lists,
# context, no match (exit 1), -uu. Every run must give the same stdout,
# stderr and exit status natively and under the shim. Last, rg -j4 searches
# the tree and a fifo: while one of its threads waits in a read of the fifo,
# the test counts OS threads (1 under the shim, more natively), then feeds
# the fifo.
#
# usage: ripgrep.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need rg mkfifo sort

TREE="$WORK/tree"
"$PY" - "$TREE" <<'EOF'
import os, random, sys
root = sys.argv[1]
r = random.Random(2024)
words = ("alpha beta gamma delta epsilon zeta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega haystack straw").split()
def text(nlines, needles, tag):
    out = []
    for i in range(nlines):
        line = " ".join(r.choice(words) for _ in range(r.randint(3, 12)))
        if i in needles:
            line += " needle%d %s" % (needles[i], tag)
        out.append(line)
    return "\n".join(out) + "\n"
n = 0
for d in range(12):
    for sub in ("", "sub", "sub/deeper"):
        path = os.path.join(root, "dir%02d" % d, sub)
        os.makedirs(path, exist_ok=True)
        for f in range(10):
            nlines = r.choice((5, 40, 300, 2000)) if (d + f) % 7 else 20000  # some ~1 MiB
            needles = {r.randrange(nlines): r.randrange(1000) for _ in range(r.randint(0, 6))}
            with open(os.path.join(path, "file%02d.txt" % f), "w") as fh:
                fh.write(text(nlines, needles, "in dir%02d/%s/file%02d" % (d, sub, f)))
            n += 1
os.makedirs(os.path.join(root, "ignored"), exist_ok=True)
with open(os.path.join(root, "ignored", "skip.txt"), "w") as fh:
    fh.write("needle1 ignored by .ignore\n")
with open(os.path.join(root, ".ignore"), "w") as fh:
    fh.write("ignored/\n")
with open(os.path.join(root, "dir03", ".hidden.txt"), "w") as fh:
    fh.write("needle2 hidden\n")
with open(os.path.join(root, "dir04", "blob.bin"), "wb") as fh:
    fh.write(b"needle3 binary\x00\x01\x02" * 100)
EOF

# check NAME EXPECTED_STATUS SORT RG_ARGS...: rg natively and under the shim
# (from inside the tree: relative paths), stdout (sorted when SORT=sort),
# stderr and exit status compared.
check() {
  local name="$1" want="$2" sorted="$3" mode rc
  shift 3
  for mode in native shim; do
    (cd "$TREE" && run "$mode" timeout 60 rg "$@" > "$WORK/$name-$mode.raw" 2> "$WORK/$name-$mode.err")
    echo $? > "$WORK/$name-$mode.rc"
    if [ "$sorted" = sort ]; then sort "$WORK/$name-$mode.raw" > "$WORK/$name-$mode.out"
    else cp "$WORK/$name-$mode.raw" "$WORK/$name-$mode.out"; fi
  done
  rc="$(cat "$WORK/$name-native.rc")"
  if [ "$rc" != "$want" ]; then
    fail "$name: native rg exited $rc, expected $want"
    head -5 "$WORK/$name-native.err" >&2
    return
  fi
  local ok=1
  if [ "$(cat "$WORK/$name-shim.rc")" != "$rc" ]; then
    fail "$name: exit status native $rc, under the shim $(cat "$WORK/$name-shim.rc")"; ok=0
  fi
  if ! cmp -s "$WORK/$name-native.out" "$WORK/$name-shim.out"; then
    fail "$name: stdout differs (--- native, +++ shim):"
    diff -u "$WORK/$name-native.out" "$WORK/$name-shim.out" | head -20 >&2; ok=0
  fi
  if ! cmp -s "$WORK/$name-native.err" "$WORK/$name-shim.err"; then
    fail "$name: stderr differs (--- native, +++ shim):"
    diff -u "$WORK/$name-native.err" "$WORK/$name-shim.err" | head -20 >&2; ok=0
  fi
  [ "$ok" = 1 ] && pass "$name: rg $* — identical ($(wc -l < "$WORK/$name-native.out") lines, exit $rc)"
}

SECONDS=0
check sorted     0 keep -j4 --sort path -n 'needle[0-9]+' .
check parallel   0 sort -j4 -n 'needle[0-9]+' .
check count      0 sort -j4 -c needle .
check files      0 sort -j4 --files .
check context    0 sort -j4 -n -C1 -e 'needle[0-9]*7 ' -e 'omega psi chi' .
check nomatch    1 keep -j4 -l 'no_such_needle_anywhere' .
check unrestrict 0 sort -j4 -uu -c 'needle[0-9]' .
check words      0 sort -j8 -w -i -c 'HAYSTACK' .
[ "$(wc -l < "$WORK/sorted-native.out")" -gt 100 ] || fail "sorted: fewer matches than generated"

# A fifo among the paths: one rg thread waits in its read while the test
# counts OS threads; then the fifo gets a matching line and EOF.
fifo_run() {
  local mode="$1" fifo="$WORK/fifo" i pid=""
  rm -f "$fifo"
  mkfifo "$fifo"
  exec 8<> "$fifo"   # a writer exists: rg's open does not block, its read does
  local pre=()
  [ "$mode" = shim ] && pre=("$GH")
  cd "$TREE" || return
  start_bg timeout 60 "${pre[@]}" rg -j4 -n 'needle[0-9]+' . ../fifo 8>&- \
    > "$WORK/fifo-$mode.raw" 2> "$WORK/fifo-$mode.err"
  cd - > /dev/null || return
  local bg=$BG_PID
  FIFO_TASKS=0 FIFO_LOADED=no
  for ((i = 0; i < 600; i++)); do   # up to 30 s
    pid="$(leaf_pid "$bg")"
    if [ -n "$pid" ] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "-> $fifo\$"; then
      # rg has the fifo open; its read cannot end before the test writes
      FIFO_TASKS="$(task_count "$pid")"
      shim_loaded "$pid" && FIFO_LOADED=yes
      break
    fi
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
  done
  [ "$FIFO_TASKS" -gt 0 ] || fail "fifo $mode: rg never opened the fifo"
  echo "needle42 from the fifo" >&8
  exec 8>&-
  if wait_gone "$bg" 60; then FIFO_RC=$WAIT_RC; else FIFO_RC=-1; fail "fifo $mode: rg did not finish"; stop_bg "$bg"; fi
  sort "$WORK/fifo-$mode.raw" > "$WORK/fifo-$mode.out"
}
fifo_run native
n_tasks=$FIFO_TASKS n_loaded=$FIFO_LOADED n_rc=$FIFO_RC
fifo_run shim
s_tasks=$FIFO_TASKS s_loaded=$FIFO_LOADED s_rc=$FIFO_RC
log "fifo native: exit $n_rc, $n_tasks OS threads, shim loaded: $n_loaded"
log "fifo shim:   exit $s_rc, $s_tasks OS threads, shim loaded: $s_loaded"
[ "$n_rc" = 0 ] || fail "fifo: native rg exited $n_rc"
[ "$s_rc" = 0 ] || fail "fifo: rg under the shim exited $s_rc"
[ "$n_loaded" = no ] || fail "fifo: libgreenhouse.so mapped natively"
[ "$s_loaded" = yes ] || fail "fifo: libgreenhouse.so not mapped under the shim"
[ "$n_tasks" -gt 1 ] || fail "fifo: natively rg -j4 had $n_tasks OS threads, expected > 1"
if [ "$s_tasks" = 1 ]; then pass "fifo: 1 OS thread under the shim while rg -j4 waited on the fifo (native: $n_tasks)"
else fail "fifo: rg -j4 had $s_tasks OS threads under the shim, expected 1"; fi
grep -q 'needle42 from the fifo' "$WORK/fifo-native.out" || fail "fifo: native rg did not report the fifo's line"
if cmp -s "$WORK/fifo-native.out" "$WORK/fifo-shim.out" && cmp -s "$WORK/fifo-native.err" "$WORK/fifo-shim.err"; then
  pass "fifo: output identical ($(wc -l < "$WORK/fifo-native.out") lines)"
else
  fail "fifo: output differs (--- native, +++ shim):"
  diff -u "$WORK/fifo-native.out" "$WORK/fifo-shim.out" | head -20 >&2
  diff -u "$WORK/fifo-native.err" "$WORK/fifo-shim.err" | head -10 >&2
fi
no_shim_messages "rg under the shim" "$WORK"/*-shim.err
log "time: ${SECONDS}s"
finish
