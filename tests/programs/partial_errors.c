// SPDX-License-Identifier: MIT
/* Errors that arrive in the middle of a blocking transfer, as the kernel
 * reports them: a write blocked on a full TCP connection whose peer resets
 * returns the short count; the reset (ECONNRESET, no SIGPIPE) is the answer
 * of the next write, and only the write after that gets EPIPE and SIGPIPE.
 * The same with sendmsg (several iovecs), and for a MSG_WAITALL receive
 * that got part of its data before the reset. The SIGPIPE of a write goes
 * to the writer and interrupts no other thread's wait. */
#include "common.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#define BIG (8 << 20)

static volatile sig_atomic_t g_sigpipes;
static void on_sigpipe(int sig) {
  (void)sig;
  g_sigpipes++;
}

/* A connected pair over loopback with small buffers: *cli, *srv. */
static void small_pair(int* cli, int* srv) {
  int small = 4096;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(l, (struct sockaddr*)&a, sizeof a) || listen(l, 1) ||
      getsockname(l, (struct sockaddr*)&a, &al)) {
    perror("listen");
    exit(2);
  }
  *cli = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(*cli, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  if (connect(*cli, (struct sockaddr*)&a, sizeof a)) {
    perror("connect");
    exit(2);
  }
  *srv = accept(l, NULL, NULL);
  close(l);
}

/* Resets the connection from the server side once data has arrived there,
 * i.e. while the other side's big transfer is under way. */
static void reset_when_data(int srv) {
  struct pollfd p = {.fd = srv, .events = POLLIN};
  poll(&p, 1, -1);
  struct linger lg = {1, 0};
  setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(srv);
}

struct writer {
  int fd;
  int vectored;
  ssize_t r1;
  int e1;
};

static void* big_write(void* p) {
  struct writer* w = p;
  char* buf = calloc(1, BIG);
  errno = 0;
  if (w->vectored) {
    struct iovec v[3] = {{buf, BIG / 4}, {buf + BIG / 4, BIG / 2}, {buf + 3 * (BIG / 4), BIG / 4}};
    struct msghdr m = {.msg_iov = v, .msg_iovlen = 3};
    w->r1 = sendmsg(w->fd, &m, 0);
  } else {
    w->r1 = write(w->fd, buf, BIG);
  }
  w->e1 = errno;
  free(buf);
  return NULL;
}

/* What the next calls on fd say after the interrupted transfer. */
static void show_next_writes(const char* label, int fd) {
  char line[128];
  for (int i = 2; i <= 3; i++) {
    int before = g_sigpipes;
    errno = 0;
    ssize_t r = write(fd, "x", 1);
    snprintf(line, sizeof line, "%s: write %d", label, i);
    printf("%s: ret=%zd errno=%s sigpipe=%d\n", line, r, r < 0 ? errname(errno) : "0",
           g_sigpipes - before);
  }
}

static void check_write_reset(int vectored) {
  const char* label = vectored ? "sendmsg reset" : "write reset";
  int cli, srv;
  small_pair(&cli, &srv);
  struct writer w = {.fd = cli, .vectored = vectored};
  pthread_t t;
  pthread_create(&t, NULL, big_write, &w);
  reset_when_data(srv);
  pthread_join(t, NULL);
  CHECK(w.r1 > 0 && w.r1 < BIG, label, "ret=%zd errno=%s", w.r1, errname(w.e1));
  show_next_writes(label, cli);
  close(cli);
}

struct reader {
  int fd;
  ssize_t r1;
  int e1;
};

static void* waitall_read(void* p) {
  struct reader* r = p;
  char buf[4096];
  errno = 0;
  r->r1 = recv(r->fd, buf, sizeof buf, MSG_WAITALL);
  r->e1 = errno;
  return NULL;
}

static void check_waitall_reset(void) {
  int cli, srv;
  small_pair(&cli, &srv);
  struct reader rd = {.fd = cli};
  pthread_t t;
  pthread_create(&t, NULL, waitall_read, &rd);
  /* Part of what the reader waits for, then (once the reader has taken it:
   * the receive queue is empty) the reset. */
  if (write(srv, "0123456789", 10) != 10) g_failures++;
  int q = 1;
  struct pollfd p = {.fd = cli, .events = POLLIN};
  for (int i = 0; i < 100000 && q > 0; i++) {
    ioctl(cli, FIONREAD, &q);
    if (q > 0) poll(&p, 0, 1);
  }
  struct linger lg = {1, 0};
  setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(srv);
  pthread_join(t, NULL);
  printf("MSG_WAITALL reset: ret=%zd errno=%s\n", rd.r1, rd.r1 < 0 ? errname(rd.e1) : "0");
  char c;
  errno = 0;
  ssize_t r = recv(cli, &c, 1, 0);
  printf("MSG_WAITALL reset: next recv ret=%zd errno=%s\n", r, r < 0 ? errname(errno) : "0");
  close(cli);
}

/* The SIGPIPE of a write to a pipe without a reader is the writer's: it
 * interrupts no other thread's wait (main's poll here). */
struct piper {
  int dead_w, wake_w;
};
static void* write_to_dead_pipe(void* p) {
  struct piper* pp = p;
  errno = 0;
  ssize_t r = write(pp->dead_w, "x", 1);
  printf("write to a pipe without reader: ret=%zd errno=%s\n", r, errname(errno));
  /* Let whatever the signal did to other threads happen before main's
   * wait can end for its own reason. */
  sched_yield();
  if (write(pp->wake_w, "w", 1) != 1) g_failures++;
  return NULL;
}
static void check_sigpipe_is_the_writers(void) {
  int dead[2], wake[2];
  if (pipe(dead) || pipe(wake)) exit(2);
  close(dead[0]);
  struct piper pp = {dead[1], wake[1]};
  int before = g_sigpipes;
  pthread_t t;
  pthread_create(&t, NULL, write_to_dead_pipe, &pp);
  struct pollfd p = {.fd = wake[0], .events = POLLIN};
  errno = 0;
  int n = poll(&p, 1, -1);
  printf("main's poll while another thread got SIGPIPE: ret=%d errno=%s\n", n,
         n < 0 ? errname(errno) : "0");
  pthread_join(t, NULL);
  CHECK(g_sigpipes - before == 1, "one SIGPIPE, to the writer", "%d", g_sigpipes - before);
  close(dead[1]);
  close(wake[0]);
  close(wake[1]);
}

int main(void) {
  test_start();
  signal(SIGPIPE, on_sigpipe);
  check_write_reset(0);
  check_write_reset(1);
  check_waitall_reset();
  check_sigpipe_is_the_writers();
  printf("sigpipes: %d\n", (int)g_sigpipes);
  return test_end();
}
