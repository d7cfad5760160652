// SPDX-License-Identifier: MIT
/* A process that used every fd its limit allows forks (stress-ng's sockpair
 * stressor does): the child can still start a thread, which reads what the
 * parent writes. Under the shim the child's runtime needs fds of its own;
 * the parent's rings and eventfds, inherited, are of no use to it. */
#include "common.h"

#include <sys/resource.h>
#include <sys/wait.h>

static int g_rfd;

static void* noop(void* arg) { return arg; }

static void* reader(void* unused) {
  (void)unused;
  char b[16] = {0};
  return (void*)(intptr_t)read(g_rfd, b, sizeof b - 1);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t;
  pthread_create(&t, NULL, noop, NULL); /* the runtime is up */
  pthread_join(t, NULL);
  int sv[2], last[2] = {-1, -1};
  while (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
    last[0] = sv[0];
    last[1] = sv[1];
  }
  printf("socketpair until: %s\n", errname(errno));
  pid_t pid = fork();
  if (pid == 0) {
    g_rfd = last[0];
    int e = pthread_create(&t, NULL, reader, NULL);
    printf("child pthread_create: %s\n", errname(e));
    if (e) _exit(2);
    void* got = NULL;
    pthread_join(t, &got);
    _exit((intptr_t)got == 5 ? 0 : 1);
  }
  if (write(last[1], "hello", 5) != 5) g_failures++;
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's thread read the data",
        "status=0x%x", status);
  return g_failures ? 1 : 0;
}
