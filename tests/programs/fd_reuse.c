// SPDX-License-Identifier: MIT
/* fd numbers reused after the fd was closed behind the shim's back (a raw
 * close system call, closefrom) or by fds made by calls other than socket()
 * and pipe(): whatever the shim remembered about the old fd must not be
 * applied to the new one. */
#include "common.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

static int used_socket(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  char c;
  if (send(sv[1], "x", 1, 0) != 1 || recv(sv[0], &c, 1, 0) != 1) g_failures++;
  syscall(SYS_close, sv[1]);
  return sv[0]; /* the shim has seen it as a blocking stream socket */
}

static struct gate g_go;

static void* checks(void* unused) {
  (void)unused;
  char buf[64];
  gate_wait(&g_go); /* main has counted the threads: no fds opened meanwhile */

  int s = used_socket();
  syscall(SYS_close, s); /* behind the shim's back */
  int f = open("/proc/self/cmdline", O_RDONLY);
  printf("open reuses the socket's number: %s\n", f == s ? "yes" : "no");
  ssize_t r = read(f, buf, sizeof buf);
  CHECK(r > 0, "read of a file on a number that was a socket (raw close)", "ret=%zd errno=%s", r,
        errname(errno));
  close(f);

  s = used_socket();
  syscall(SYS_close, s);
  FILE* fp = fopen("/proc/self/cmdline", "r");
  printf("fopen reuses the socket's number: %s\n", fileno(fp) == s ? "yes" : "no");
  r = read(fileno(fp), buf, sizeof buf);
  CHECK(r > 0, "read of an fopen'ed file on a number that was a socket", "ret=%zd errno=%s", r,
        errname(errno));
  fclose(fp);

  s = used_socket();
  syscall(SYS_close, s);
  int e = eventfd(0, EFD_NONBLOCK);
  printf("eventfd reuses the socket's number: %s\n", e == s ? "yes" : "no");
  uint64_t v;
  EXPECT_ERR("read of an empty EFD_NONBLOCK eventfd on a number that was a blocking socket: EAGAIN",
             read(e, &v, sizeof v), EAGAIN);
  close(e);

  s = used_socket();
  int s2 = used_socket();
  closefrom(s < s2 ? s : s2);
  int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  printf("timerfd after closefrom reuses a socket's number: %s\n", t == s || t == s2 ? "yes" : "no");
  EXPECT_ERR("read of an unarmed TFD_NONBLOCK timerfd: EAGAIN", read(t, &v, sizeof v), EAGAIN);
  int f2 = open("/proc/self/cmdline", O_RDONLY);
  r = read(f2, buf, sizeof buf);
  CHECK(r > 0, "read of a file on a number closed by closefrom", "ret=%zd errno=%s", r,
        errname(errno));
  close(f2);
  close(t);

  /* a pipe's number reused by a socket made non-blocking */
  int p[2];
  if (pipe(p) != 0) exit(2);
  if (write(p[1], "y", 1) != 1 || read(p[0], buf, 1) != 1) g_failures++;
  syscall(SYS_close, p[0]);
  syscall(SYS_close, p[1]);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
  EXPECT_ERR("recv on a SOCK_NONBLOCK socket on a number that was a pipe: EAGAIN",
             recv(sv[0], buf, sizeof buf, 0), EAGAIN);
  close(sv[0]);
  close(sv[1]);
  return NULL;
}

int main(void) {
  test_start();
  gate_init(&g_go); /* its fds are below everything the checks use */
  pthread_t t;
  pthread_create(&t, NULL, checks, NULL);
  tasks_sample();
  gate_open(&g_go, 1);
  pthread_join(t, NULL);
  return test_end();
}
