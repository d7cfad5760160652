#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A Go program the shim reaches through exec (the launcher refuses one it
# is given: Go makes its system calls itself). Built at test time with cgo,
# so that it is dynamically linked and the loader preloads the shim into it:
# a goroutine spins while main runs runtime.GC() five times, which only
# ends if the runtime can preempt the spinner with a signal to the OS thread
# it recorded. The shim must notice the Go program at start-up and pass
# every call through: `greenhouse sh -c PROG` prints what PROG prints
# natively, and says why at GREENHOUSE_LOG_LEVEL=info. (Before the shim
# checked, it took the program's threads and the collection never ended.)
#
# usage: go_exec.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need go gcc

mkdir -p "$WORK/src" "$WORK/cache"
cat > "$WORK/src/main.go" <<'GO'
package main

import (
	"fmt"
	"os/user"
	"runtime"
	"sync/atomic"
)

func main() {
	_, _ = user.Current() // cgo: linked with libc, so LD_PRELOAD applies
	var stop int32
	done := make(chan bool)
	go func() {
		x := uint64(0)
		for atomic.LoadInt32(&stop) == 0 {
			for k := 0; k < 1000000; k++ {
				x += uint64(k) ^ x
			}
		}
		done <- x > 0
	}()
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	atomic.StoreInt32(&stop, 1)
	<-done
	fmt.Println("five collections with a goroutine spinning: ok")
}
GO
printf 'module goexec\ngo 1.18\n' > "$WORK/src/go.mod"
if ! (cd "$WORK/src" && CGO_ENABLED=1 GOCACHE="$WORK/cache" GOPATH="$WORK/gopath" GOFLAGS=-mod=mod \
      GOTOOLCHAIN=local go build -o "$WORK/prog" . > "$WORK/build.log" 2>&1); then
  cat "$WORK/build.log" >&2
  skip "go could not build a cgo program here"
fi
readelf -lW "$WORK/prog" 2>/dev/null | grep -q INTERP || skip "go built a static program (no cgo)"

timeout 60 "$WORK/prog" > "$WORK/native.out" 2>&1
N_RC=$?
GREENHOUSE_LOG_LEVEL=info timeout 60 "$GH" sh -c "$WORK/prog" > "$WORK/shim.out" 2> "$WORK/shim.err"
S_RC=$?
[ "$N_RC" = 0 ] || fail "native run: exit status $N_RC"
if [ "$S_RC" = "$N_RC" ] && cmp -s "$WORK/native.out" "$WORK/shim.out"; then
  pass "a cgo Go program run through sh under the shim: same output and exit status"
else
  fail "under the shim: exit status $S_RC (native $N_RC), output: $(head -c 300 "$WORK/shim.out")"
fi
grep -q 'is a Go program' "$WORK/shim.err" ||
  fail "no 'is a Go program' line at GREENHOUSE_LOG_LEVEL=info: $(head -c 300 "$WORK/shim.err")"
"$GH" "$WORK/prog" > /dev/null 2> "$WORK/direct.err"
D_RC=$?
[ "$D_RC" = 126 ] && grep -q 'is a Go program' "$WORK/direct.err" ||
  fail "the launcher given the Go program: exit status $D_RC, $(head -c 300 "$WORK/direct.err")"
finish
