// SPDX-License-Identifier: MIT
/* A program that closes every descriptor it does not know about, as daemons
 * and process supervisors do after start-up: closefrom(3), close_range(3,
 * ~0U, 0), and a close() loop up to the descriptor limit, each while worker
 * threads are parked in reads. The workers then go on: every read is woken
 * by its write and returns the bytes written, sleeps end, and new threads
 * start and finish. Under the shim the runtime's own descriptors (rings,
 * epoll sets, wake-up eventfds) sit among those numbers and must survive.
 * The last round refuses close_range (ENOSYS, as a kernel before 5.9 would)
 * in every thread, so that closefrom falls back to /proc/self/fd. */
#include "common.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 4

static int g_pipes[WORKERS][2];

static void* worker(void* arg) {
  intptr_t i = (intptr_t)arg;
  char buf[16];
  ssize_t n = read(g_pipes[i][0], buf, sizeof buf);
  struct timespec ts = {0, 1000000};
  nanosleep(&ts, NULL);
  return (void*)(intptr_t)n;
}

/* Starts WORKERS readers, lets them park, then runs close_all (which must
 * leave fds 0-2 and the pipes alone), then writes to each and checks that
 * every reader got its bytes. */
static void round_with(const char* what, void (*close_all)(void)) {
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    if (pipe(g_pipes[i]) != 0) exit(2);
    pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i);
  }
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL); /* the readers are parked (or about to be) */
  close_all();
  int ok = 1;
  for (int i = 0; i < WORKERS; i++)
    if (write(g_pipes[i][1], "0123456789", 10) != 10) ok = 0;
  for (int i = 0; i < WORKERS; i++) {
    void* r;
    pthread_join(t[i], &r);
    if ((intptr_t)r != 10) ok = 0;
    close(g_pipes[i][0]);
    close(g_pipes[i][1]);
  }
  printf("%s: readers woken with their bytes: %s\n", what, ok ? "yes" : "no");
  if (!ok) g_failures++;
}

/* Closes what the program does not know, above the pipes. */
static int above_pipes(void) {
  int top = 2;
  for (int i = 0; i < WORKERS; i++)
    for (int j = 0; j < 2; j++)
      if (g_pipes[i][j] > top) top = g_pipes[i][j];
  return top + 1;
}
static void by_nothing(void) {}
static void by_closefrom(void) { closefrom(above_pipes()); }
static void by_close_range(void) {
  if (close_range((unsigned)above_pipes(), ~0U, 0) != 0) g_failures++;
}
static void by_close_loop(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  int max = rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
  for (int fd = above_pipes(); fd < max; fd++) close(fd);
}

/* From now on close_range fails with ENOSYS in every thread of the process
 * (seccomp, synchronised to all threads). Returns 0 if that took effect. */
static int refuse_close_range(void) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    return -1;
  return syscall(SYS_close_range, ~0U, ~0U, 0) == -1 && errno == ENOSYS ? 0 : -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  round_with("closefrom", by_closefrom);
  round_with("close_range", by_close_range);
  round_with("close loop", by_close_loop);
  round_with("after all three", by_closefrom);
  if (refuse_close_range() != 0) {
    printf("could not refuse close_range\n");
    return 1;
  }
  round_with("closefrom without close_range", by_closefrom);
  round_with("after it", by_nothing);
  return g_failures ? 1 : 0;
}
