// SPDX-License-Identifier: MIT
/* Signals aimed at threads blocked in interposed calls: pthread_kill runs
 * the handler in the target thread; without SA_RESTART a blocked read,
 * recv, accept, poll or sleep fails with EINTR (nanosleep reports the time
 * left); with SA_RESTART the read goes on and gets its data; SO_RCVTIMEO
 * makes even SA_RESTART calls fail with EINTR (signal(7)). */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static volatile sig_atomic_t g_hits;

static void on_usr1(int sig) {
  (void)sig;
  g_hits++;
}

static void install(int restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGUSR1, &sa, NULL);
}

enum op { OP_READ, OP_RECV, OP_RECV_TIMEO, OP_POLL, OP_NANOSLEEP, OP_ACCEPT, OP_USLEEP };
static const char* op_name[] = {"read on a pipe", "recv on a socketpair", "recv with SO_RCVTIMEO",
                                "poll", "nanosleep 10s", "accept", "usleep 10s"};

struct target {
  enum op op;
  int fd;       /* what it blocks on */
  int ready[2]; /* it writes here just before blocking */
  long ret;
  int err;
  long rem_ms;
};

static void* blocker(void* p) {
  struct target* t = (struct target*)p;
  char buf[16];
  if (write(t->ready[1], "r", 1) != 1) g_failures++;
  errno = 0;
  switch (t->op) {
    case OP_READ: t->ret = read(t->fd, buf, sizeof buf); break;
    case OP_RECV:
    case OP_RECV_TIMEO: t->ret = recv(t->fd, buf, sizeof buf, 0); break;
    case OP_POLL: {
      struct pollfd f = {t->fd, POLLIN, 0};
      t->ret = poll(&f, 1, 10000);
      break;
    }
    case OP_NANOSLEEP: {
      struct timespec req = {10, 0}, rem = {0, 0};
      t->ret = nanosleep(&req, &rem);
      t->rem_ms = rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
      break;
    }
    case OP_ACCEPT: t->ret = accept(t->fd, NULL, NULL); break;
    case OP_USLEEP: t->ret = usleep(10000000); break;
  }
  t->err = errno;
  return NULL;
}

/* Starts a thread blocking in `op`, signals it once it (very likely) blocks,
 * and reports what the call returned. `feed` is written after the signal
 * so that a restarted call completes. */
static void interrupt(enum op op, int fd, int feed_fd, int restart) {
  install(restart);
  struct target t;
  memset(&t, 0, sizeof t);
  t.op = op;
  t.fd = fd;
  if (pipe(t.ready) != 0) exit(2);
  g_hits = 0;
  pthread_t th;
  pthread_create(&th, NULL, blocker, &t);
  char c;
  if (read(t.ready[0], &c, 1) != 1) g_failures++;
  usleep(100000); /* it is blocked by now */
  pthread_kill(th, SIGUSR1);
  usleep(50000);
  if (feed_fd >= 0 && write(feed_fd, "feed", 4) != 4) g_failures++;
  pthread_join(th, NULL);
  /* (which thread pthread_self() names inside the handler: signal_threads.c) */
  printf("%s, %s: ret=%ld errno=%s; handler ran %d time(s)\n", op_name[op],
         restart ? "SA_RESTART" : "no SA_RESTART", t.ret, t.ret < 0 ? errname(t.err) : "0",
         (int)g_hits);
  if (op == OP_NANOSLEEP)
    printf("  nanosleep time left: %s\n", t.rem_ms > 8000 && t.rem_ms <= 10000 ? "about 9.85s" : "WRONG");
  close(t.ready[0]);
  close(t.ready[1]);
}

static void* run_all(void* unused) {
  (void)unused;
  int p[2], sv[2];
  if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  char drain[16];

  interrupt(OP_READ, p[0], p[1], 0);
  if (read(p[0], drain, sizeof drain) != 4) g_failures++; /* the feed */
  interrupt(OP_READ, p[0], p[1], 1);
  interrupt(OP_RECV, sv[0], sv[1], 0);
  if (read(sv[0], drain, sizeof drain) != 4) g_failures++;
  interrupt(OP_RECV, sv[0], sv[1], 1);
  struct timeval tv = {30, 0};
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  interrupt(OP_RECV_TIMEO, sv[0], sv[1], 1);
  if (read(sv[0], drain, sizeof drain) != 4) g_failures++;
  interrupt(OP_POLL, p[0], -1, 1); /* poll is never restarted */
  interrupt(OP_NANOSLEEP, -1, -1, 1);
  interrupt(OP_USLEEP, -1, -1, 1);
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr sa = {AF_UNIX, {0}}; /* autobind */
  bind(l, &sa, sizeof(sa_family_t));
  listen(l, 1);
  interrupt(OP_ACCEPT, l, -1, 0);
  close(l);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
  return NULL;
}

int main(void) {
  test_start();
  pthread_t t;
  pthread_create(&t, NULL, run_all, NULL);
  tasks_sample();
  pthread_join(t, NULL);
  return test_end();
}
