#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the launcher does with the program it is given, against what a shell
# does with the same command: a script without a "#!" line runs under
# /bin/sh (as execvp runs it) with its arguments and exit status; a missing
# command is 127 and a file that is not executable 126, each with one
# greenhouse: line; a statically linked program is refused with 126, and
# the shim is in the script's commands (they run under it).
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"

# A script without "#!": natively (through env, i.e. execvp) and under the launcher.
printf 'echo "args: $0 $*"\ngrep -c libgreenhouse /proc/$$/maps >/dev/null && echo shim || echo native\nexit 3\n' \
  > "$WORK/noshebang"
chmod +x "$WORK/noshebang"
N_OUT="$(env "$WORK/noshebang" a 'b c')"; N_RC=$?
S_OUT="$("$GH" "$WORK/noshebang" a 'b c')"; S_RC=$?
if [ "$N_RC" = 3 ] && [ "$S_RC" = 3 ] && [ "$(head -1 <<<"$N_OUT")" = "$(head -1 <<<"$S_OUT")" ] &&
   [ "$(tail -1 <<<"$S_OUT")" = shim ]; then
  pass "a script without #! runs under /bin/sh, arguments and exit status as natively, under the shim"
else
  fail "script without #!: native '$N_OUT' ($N_RC), launcher '$S_OUT' ($S_RC)"
fi

# Not found, not executable.
"$GH" no-such-command-here > /dev/null 2> "$WORK/err"; RC=$?
[ "$RC" = 127 ] && grep -q '^greenhouse: .*command not found' "$WORK/err" &&
  pass "missing command: 127" || fail "missing command: exit $RC, $(cat "$WORK/err")"
printf 'echo hi\n' > "$WORK/notexec"
"$GH" "$WORK/notexec" > /dev/null 2> "$WORK/err"; RC=$?
[ "$RC" = 126 ] && [ "$(grep -c '^greenhouse:' "$WORK/err")" = 1 ] &&
  pass "file that is not executable: 126" || fail "not executable: exit $RC, $(cat "$WORK/err")"

# Statically linked: nothing to preload into.
if printf 'int main(void){return 0;}\n' | gcc -static -x c - -o "$WORK/static" 2>/dev/null; then
  "$GH" "$WORK/static" > /dev/null 2> "$WORK/err"; RC=$?
  [ "$RC" = 126 ] && grep -q 'statically linked' "$WORK/err" &&
    pass "statically linked program refused: 126" || fail "static: exit $RC, $(cat "$WORK/err")"
else
  log "no static libc: the statically linked case is not checked"
fi
finish
