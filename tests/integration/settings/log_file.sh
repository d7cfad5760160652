#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GREENHOUSE_LOG_FILE under hostile conditions: a FIFO is refused at once
# (no hang before main), a symbolic link is not followed (its target is not
# created), a directory or other device is refused, each with a
# `greenhouse:` line naming the variable and exit status 2; a new file is
# created 0600 (whatever the umask lets through), an existing one is appended
# to, and /dev/null is accepted.
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
need mkfifo stat

cd "$WORK" || exit 1
umask 022

# refused PATH WHY: the shim refuses GREENHOUSE_LOG_FILE=PATH, naming it.
refused() {
  local path="$1" why="$2" out rc
  out="$(GREENHOUSE_LOG_FILE="$path" timeout 20 "$GH" -- /bin/echo ran 2>&1)"
  rc=$?
  if [ "$rc" = 2 ] && [[ "$out" == "greenhouse: GREENHOUSE_LOG_FILE=$path $why"* ]] &&
     [[ "$out" != *ran* ]]; then
    pass "$path refused: $out"
  else
    fail "$path: status $rc (want 2), output '$out'"
  fi
}

mkfifo fifo
refused fifo "is a FIFO or socket"
# A FIFO with a reader opens without blocking, and is refused all the same.
exec 3<>fifo
refused fifo "is another kind of file"
exec 3>&-

ln -s "$WORK/target" link
refused link "is a symbolic link"
[ -e target ] && fail "the symlink's target was created" || pass "symlink target not created"

mkdir dir
refused dir "cannot be opened for appending"
refused /dev/zero "is another kind of file"

out="$(GREENHOUSE_LOG_FILE=new.log GREENHOUSE_LOG_LEVEL=debug timeout 20 "$GH" -- /bin/echo ran 2>&1)"
mode="$(stat -c %a new.log 2>/dev/null)"
if [ "$out" = ran ] && [ "$mode" = 600 ] && grep -q '^greenhouse: ' new.log; then
  pass "new log file created 0600 and written"
else
  fail "new log file: output '$out', mode '$mode'"
fi

echo "first line" > old.log
chmod 644 old.log
GREENHOUSE_LOG_FILE=old.log GREENHOUSE_LOG_LEVEL=debug timeout 20 "$GH" -- /bin/true
if [ "$(head -1 old.log)" = "first line" ] && grep -q '^greenhouse: ' old.log &&
   [ "$(stat -c %a old.log)" = 644 ]; then
  pass "existing log file appended to, mode kept"
else
  fail "existing log file: $(head -3 old.log)"
fi

out="$(GREENHOUSE_LOG_FILE=/dev/null GREENHOUSE_LOG_LEVEL=debug timeout 20 "$GH" -- /bin/echo ran 2>&1)"
[ "$out" = ran ] && pass "/dev/null accepted" || fail "/dev/null: '$out'"

[ "$FAILURES" = 0 ]
