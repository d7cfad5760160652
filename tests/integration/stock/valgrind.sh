#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Valgrind (memcheck) running a threaded C program (compiled at test time:
# 8 threads passing a token around a ring of pipes, a mutex-protected count,
# a condition variable, sleeps), natively and with the shim preloaded. Under
# valgrind the shim picks the epoll backend by itself (valgrind lets one
# thread run at a time and keeps that turn through an io_uring_enter that
# waits: the program hung before). Both runs must print the same, exit 0
# and have memcheck find no error; while all 8 threads wait, the shim run has
# 1 OS thread. At GREENHOUSE_LOG_LEVEL=info the shim says why it chose epoll.
#
# usage: valgrind.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need valgrind cc

cat > "$WORK/ring.c" <<'C'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { kThreads = 8, kRounds = 50 };
static int pipes[kThreads][2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static int waiting, passes, rounds[kThreads];

static void* member(void* arg) {
  int i = (int)(long)arg;
  pthread_mutex_lock(&lock);
  if (++waiting == kThreads) pthread_cond_signal(&all_waiting);
  pthread_mutex_unlock(&lock);
  for (;;) {
    int token;
    if (read(pipes[i][0], &token, sizeof token) != sizeof token) abort();
    if (token < 0) break;
    pthread_mutex_lock(&lock);
    passes++;
    rounds[i]++;
    pthread_mutex_unlock(&lock);
    if (token % 97 == 0) nanosleep(&(struct timespec){0, 1000000}, NULL);
    int next = token + 1 < kThreads * kRounds ? token + 1 : -1;
    if (next < 0) {
      for (int j = 0; j < kThreads; j++) write(pipes[j][1], &next, sizeof next);
    } else {
      write(pipes[(i + 1) % kThreads][1], &next, sizeof next);
    }
  }
  return NULL;
}

int main(void) {
  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; i++) pipe(pipes[i]);
  for (int i = 0; i < kThreads; i++) pthread_create(&t[i], NULL, member, (void*)(long)i);
  pthread_mutex_lock(&lock);
  while (waiting < kThreads) pthread_cond_wait(&all_waiting, &lock);
  pthread_mutex_unlock(&lock);
  /* every thread waits in its read: tell the test, wait for its go */
  const char* ready = getenv("GH_READY_FILE");
  if (ready) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE* f = fopen(tmp, "w");
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    rename(tmp, ready);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 3;
  }
  int first = 0;
  write(pipes[0][1], &first, sizeof first);
  for (int i = 0; i < kThreads; i++) pthread_join(t[i], NULL);
  printf("passes %d\n", passes);
  for (int i = 0; i < kThreads; i++) printf("thread %d: %d rounds\n", i, rounds[i]);
  return 0;
}
C
cc -O1 -g -pthread -o "$WORK/ring" "$WORK/ring.c" || skip "cannot compile a C program"

SECONDS=0
# memcheck's own messages go to a log file; an error makes it exit 9.
vg=(valgrind -q --error-exitcode=9)
run_gated native ring "${vg[@]}" --log-file="$WORK/memcheck-native.log" "$WORK/ring"
N_TASKS=$TASKS N_LOADED=$LOADED N_RC=$RC
run_gated shim ring "${vg[@]}" --log-file="$WORK/memcheck-shim.log" "$WORK/ring"
S_TASKS=$TASKS S_LOADED=$LOADED S_RC=$RC
compare_gated ring "8 threads waiting in reads"
grep -q '^passes 400$' "$WORK/ring-native.out" || fail "ring: the native run did not pass the token 400 times"
# With -q memcheck writes only what it finds ("==PID== ..."); valgrind's own
# notes ("--PID-- ...", such as a system call it does not know) do not count.
for m in native shim; do
  if grep -q '^==[0-9]*== ' "$WORK/memcheck-$m.log" 2>/dev/null; then
    fail "memcheck reported in the $m run:"; head -60 "$WORK/memcheck-$m.log" >&2
  fi
done

# Why: one line at info.
out="$(timeout 120 env GREENHOUSE_LOG_LEVEL=info "$GH" valgrind -q "$WORK/ring" 2>&1 </dev/null)"; rc=$?
if [ "$rc" = 0 ] && [[ "$out" == *"greenhouse: running under valgrind: the carriers use epoll"* ]]; then
  pass "info: the shim says it chose epoll under valgrind"
else
  fail "info run: status $rc, output:"; printf '%s\n' "$out" | head -20 >&2
fi
log "time: ${SECONDS}s"
finish
