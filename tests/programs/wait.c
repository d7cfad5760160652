// SPDX-License-Identifier: MIT
/* Waiting for readiness: poll/ppoll, select/pselect and epoll, with timeouts
 * 0, positive and infinite, several fds of which one becomes ready (made so
 * by another thread), the error cases and the results that are
 * deterministic (revents, fd sets, the time left in select's timeval). */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>

#define MS 1000000LL

struct later {
  int fd;
  int close_it;
  int delay_ms;
};

static void* act_later(void* p) {
  struct later* l = (struct later*)p;
  usleep((useconds_t)l->delay_ms * 1000);
  if (l->close_it)
    close(l->fd);
  else if (write(l->fd, "w", 1) != 1)
    g_failures++;
  return NULL;
}

static pthread_t later(struct later* l, int fd, int close_it, int delay_ms) {
  l->fd = fd;
  l->close_it = close_it;
  l->delay_ms = delay_ms;
  pthread_t t;
  pthread_create(&t, NULL, act_later, l);
  return t;
}

static void drain1(int fd) {
  char c;
  if (read(fd, &c, 1) != 1) g_failures++;
}

static const char* ev(short r) {
  static char buf[8][64];
  static int n;
  char* b = buf[n++ % 8];
  b[0] = 0;
  if (r & POLLIN) strcat(b, "IN|");
  if (r & POLLOUT) strcat(b, "OUT|");
  if (r & POLLHUP) strcat(b, "HUP|");
  if (r & POLLERR) strcat(b, "ERR|");
  if (r & POLLNVAL) strcat(b, "NVAL|");
  if (r & POLLRDHUP) strcat(b, "RDHUP|");
  size_t l = strlen(b);
  if (l) b[l - 1] = 0;
  else strcpy(b, "0");
  return b;
}

/* ---- poll ---- */

static void* poll_checks(void* unused) {
  (void)unused;
  int p[2];
  if (pipe(p) != 0) exit(2);
  struct pollfd f = {p[0], POLLIN, 0};
  int64_t t0;

  SHOW("poll timeout 0 on an empty pipe", poll(&f, 1, 0));
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("poll timeout 50ms on an empty pipe", poll(&f, 1, 50));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50 * MS, "poll 50ms did not return early", "early");

  struct later l;
  pthread_t t = later(&l, p[1], 0, 30);
  f.revents = 0;
  int r = poll(&f, 1, -1);
  printf("poll -1 until another thread writes: ret=%d revents=%s\n", r, ev(f.revents));
  pthread_join(t, NULL);
  r = poll(&f, 1, 0);
  printf("poll 0 with data ready: ret=%d revents=%s\n", r, ev(f.revents));
  drain1(p[0]);

  t = later(&l, p[1], 0, 20);
  f.revents = 0;
  r = poll(&f, 1, 10000);
  printf("poll 10s until another thread writes: ret=%d revents=%s\n", r, ev(f.revents));
  pthread_join(t, NULL);
  drain1(p[0]);

  /* several fds, one of which becomes ready */
  int q[4][2];
  struct pollfd fs[6];
  for (int i = 0; i < 4; i++) {
    if (pipe(q[i]) != 0) exit(2);
    fs[i].fd = q[i][0];
    fs[i].events = POLLIN;
  }
  fs[4].fd = -1; /* ignored */
  fs[4].events = POLLIN;
  fs[5].fd = q[3][1]; /* a write end: POLLIN never, POLLOUT not asked */
  fs[5].events = POLLPRI;
  for (int i = 0; i < 6; i++) fs[i].revents = (short)0x7fff; /* must be overwritten */
  t = later(&l, q[2][1], 0, 30);
  r = poll(fs, 6, 10000);
  printf("poll 6 entries, pipe 2 written by a thread: ret=%d revents=", r);
  for (int i = 0; i < 6; i++) printf("%s%s", ev(fs[i].revents), i < 5 ? "," : "\n");
  pthread_join(t, NULL);
  drain1(q[2][0]);

  /* POLLOUT, POLLHUP, POLLNVAL */
  struct pollfd w = {q[0][1], POLLOUT, 0};
  r = poll(&w, 1, 0);
  printf("poll POLLOUT on an empty pipe's write end: ret=%d revents=%s\n", r, ev(w.revents));
  t = later(&l, q[1][1], 1, 20);
  struct pollfd h = {q[1][0], POLLIN, 0};
  r = poll(&h, 1, 10000);
  printf("poll a pipe whose writer another thread closes: ret=%d revents=%s\n", r, ev(h.revents));
  pthread_join(t, NULL);
  int closed_fd = q[0][0];
  close(closed_fd);
  struct pollfd nv[2] = {{closed_fd, POLLIN, 0}, {q[2][0], POLLIN, 0}};
  r = poll(nv, 2, 1000);
  printf("poll with a closed fd: ret=%d revents=%s,%s\n", r, ev(nv[0].revents), ev(nv[1].revents));

  /* no fds: a sleep */
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("poll with no fds and 30ms", poll(NULL, 0, 30));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 30 * MS, "poll with no fds slept 30ms", "early");

  /* errors */
  EXPECT_ERR("poll with fds at (void*)1: EFAULT", poll((struct pollfd*)BADPTR, 1, 0), EFAULT);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  EXPECT_ERR("poll with nfds > RLIMIT_NOFILE: EINVAL", poll(&f, (nfds_t)rl.rlim_cur + 1, 0), EINVAL);

  /* ppoll */
  struct timespec ts = {0, 40 * MS};
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("ppoll 40ms on an empty pipe", ppoll(&f, 1, &ts, NULL));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 40 * MS, "ppoll 40ms did not return early", "early");
  t = later(&l, p[1], 0, 20);
  r = ppoll(&f, 1, NULL, NULL);
  printf("ppoll NULL timeout until another thread writes: ret=%d revents=%s\n", r, ev(f.revents));
  pthread_join(t, NULL);
  drain1(p[0]);
  struct timespec badts = {0, 1000000000};
  EXPECT_ERR("ppoll tv_nsec=1e9: EINVAL", ppoll(&f, 1, &badts, NULL), EINVAL);

  for (int i = 0; i < 4; i++) {
    if (i != 0) close(q[i][0]);
    if (i != 1) close(q[i][1]);
  }
  close(p[0]);
  close(p[1]);
  return NULL;
}

/* ---- select ---- */

static void* select_checks(void* unused) {
  (void)unused;
  int p[2], q[2];
  if (pipe(p) != 0 || pipe(q) != 0) exit(2);
  int maxfd = (p[0] > q[0] ? p[0] : q[0]);
  maxfd = maxfd > q[1] ? maxfd : q[1];
  fd_set rd, wr;
  struct timeval tv;
  int64_t t0;

  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  tv.tv_sec = 0;
  tv.tv_usec = 0;
  int r = select(maxfd + 1, &rd, NULL, NULL, &tv);
  printf("select timeout 0 on an empty pipe: ret=%d, fd still set %d\n", r, FD_ISSET(p[0], &rd));

  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  FD_SET(q[0], &rd);
  tv.tv_sec = 0;
  tv.tv_usec = 50000;
  t0 = now_ns(CLOCK_MONOTONIC);
  r = select(maxfd + 1, &rd, NULL, NULL, &tv);
  int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
  printf("select 50ms on empty pipes: ret=%d, sets cleared %d, timeval left %ld.%06ld\n", r,
         !FD_ISSET(p[0], &rd) && !FD_ISSET(q[0], &rd), (long)tv.tv_sec, (long)tv.tv_usec);
  CHECK(dt >= 50 * MS, "select 50ms did not return early", "early");

  /* one of two becomes ready; time left is reported */
  struct later l;
  pthread_t t = later(&l, q[1], 0, 30);
  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  FD_SET(q[0], &rd);
  tv.tv_sec = 5;
  tv.tv_usec = 0;
  r = select(maxfd + 1, &rd, NULL, NULL, &tv);
  printf("select 5s, pipe q written by a thread: ret=%d p=%d q=%d\n", r, FD_ISSET(p[0], &rd),
         FD_ISSET(q[0], &rd));
  CHECK(tv.tv_sec < 5 && tv.tv_sec >= 3, "select left the unslept time in timeval", "%ld.%06ld",
        (long)tv.tv_sec, (long)tv.tv_usec);
  pthread_join(t, NULL);

  /* read and write sets together */
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_SET(p[0], &rd);
  FD_SET(q[0], &rd); /* still has the byte */
  FD_SET(p[1], &wr);
  r = select(maxfd + 1, &rd, &wr, NULL, NULL);
  printf("select NULL timeout, data on q and p writable: ret=%d p=%d q=%d pw=%d\n", r,
         FD_ISSET(p[0], &rd), FD_ISSET(q[0], &rd), FD_ISSET(p[1], &wr));
  drain1(q[0]);

  /* infinite wait woken by a writer */
  t = later(&l, p[1], 0, 20);
  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  r = select(p[0] + 1, &rd, NULL, NULL, NULL);
  printf("select NULL timeout until another thread writes: ret=%d p=%d\n", r, FD_ISSET(p[0], &rd));
  pthread_join(t, NULL);
  drain1(p[0]);

  /* no fds: a sleep */
  tv.tv_sec = 0;
  tv.tv_usec = 30000;
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("select with no fds and 30ms", select(0, NULL, NULL, NULL, &tv));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 30 * MS, "select with no fds slept 30ms", "early");

  /* errors */
  int dead[2];
  if (pipe(dead) != 0) exit(2);
  close(dead[0]);
  close(dead[1]);
  FD_ZERO(&rd);
  FD_SET(dead[0], &rd);
  tv.tv_sec = 1;
  tv.tv_usec = 0;
  EXPECT_ERR("select with a closed fd in the set: EBADF", select(dead[0] + 1, &rd, NULL, NULL, &tv), EBADF);
  EXPECT_ERR("select nfds -1: EINVAL", select(-1, NULL, NULL, NULL, &tv), EINVAL);
  tv.tv_sec = 0;
  tv.tv_usec = -1;
  EXPECT_ERR("select tv_usec -1: EINVAL", select(0, NULL, NULL, NULL, &tv), EINVAL);

  /* pselect */
  struct timespec ts = {0, 40 * MS};
  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("pselect 40ms on an empty pipe", pselect(p[0] + 1, &rd, NULL, NULL, &ts, NULL));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 40 * MS, "pselect 40ms did not return early", "early");
  printf("pselect leaves its timespec alone: %ld.%09ld\n", (long)ts.tv_sec, (long)ts.tv_nsec);
  t = later(&l, p[1], 0, 20);
  FD_ZERO(&rd);
  FD_SET(p[0], &rd);
  r = pselect(p[0] + 1, &rd, NULL, NULL, NULL, NULL);
  printf("pselect NULL timeout until another thread writes: ret=%d p=%d\n", r, FD_ISSET(p[0], &rd));
  pthread_join(t, NULL);
  drain1(p[0]);

  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  return NULL;
}

/* ---- epoll ---- */

static void* epoll_checks(void* unused) {
  (void)unused;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0, "epoll_create1", "errno=%s", errname(errno));
  int p[2], q[2];
  if (pipe(p) != 0 || pipe(q) != 0) exit(2);
  struct epoll_event e = {0};
  e.events = EPOLLIN;
  e.data.u64 = 1001;
  SHOW("epoll_ctl ADD pipe p", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
  e.data.u64 = 1002;
  SHOW("epoll_ctl ADD pipe q", epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &e));
  EXPECT_ERR("epoll_ctl ADD twice: EEXIST", epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &e), EEXIST);

  struct epoll_event out[8];
  SHOW("epoll_wait timeout 0, nothing ready", epoll_wait(ep, out, 8, 0));
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("epoll_wait 50ms, nothing ready", epoll_wait(ep, out, 8, 50));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50 * MS, "epoll_wait 50ms did not return early", "early");

  struct later l;
  pthread_t t = later(&l, q[1], 0, 30);
  memset(out, 0, sizeof out);
  int r = epoll_wait(ep, out, 8, -1);
  printf("epoll_wait -1 until a thread writes q: ret=%d data=%llu events=%s\n", r,
         (unsigned long long)out[0].data.u64, ev((short)out[0].events));
  pthread_join(t, NULL);
  /* level-triggered: still ready */
  r = epoll_wait(ep, out, 8, 0);
  printf("epoll_wait again, level-triggered: ret=%d data=%llu\n", r, (unsigned long long)out[0].data.u64);
  drain1(q[0]);
  SHOW("epoll_wait after draining", epoll_wait(ep, out, 8, 0));

  /* edge-triggered and one-shot */
  e.events = EPOLLIN | EPOLLET;
  e.data.u64 = 2001;
  SHOW("epoll_ctl MOD p to EPOLLET", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e));
  if (write(p[1], "ab", 2) != 2) g_failures++;
  r = epoll_wait(ep, out, 8, 1000);
  printf("EPOLLET first wait: ret=%d data=%llu\n", r, (unsigned long long)out[0].data.u64);
  SHOW("EPOLLET second wait (no new data)", epoll_wait(ep, out, 8, 0));
  drain1(p[0]);
  drain1(p[0]);
  e.events = EPOLLIN | EPOLLONESHOT;
  e.data.u64 = 3001;
  epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e);
  t = later(&l, p[1], 0, 20);
  r = epoll_wait(ep, out, 8, 10000);
  printf("EPOLLONESHOT wait until a thread writes: ret=%d data=%llu\n", r, (unsigned long long)out[0].data.u64);
  pthread_join(t, NULL);
  SHOW("EPOLLONESHOT disarmed (data still there)", epoll_wait(ep, out, 8, 0));
  drain1(p[0]);

  /* several ready at once */
  if (write(p[1], "x", 1) != 1 || write(q[1], "y", 1) != 1) g_failures++;
  e.events = EPOLLIN;
  e.data.u64 = 4001;
  epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &e);
  r = epoll_wait(ep, out, 8, 1000);
  unsigned long long sum = 0;
  for (int i = 0; i < r; i++) sum += out[i].data.u64;
  printf("epoll_wait with two ready: ret=%d data sum=%llu\n", r, sum);
  r = epoll_wait(ep, out, 1, 1000);
  printf("epoll_wait maxevents 1 with two ready: ret=%d\n", r);
  drain1(p[0]);
  drain1(q[0]);

  /* socket peer closing: EPOLLRDHUP */
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  e.events = EPOLLIN | EPOLLRDHUP;
  e.data.u64 = 5001;
  epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e);
  epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
  epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL);
  t = later(&l, sv[1], 1, 20);
  r = epoll_wait(ep, out, 8, 10000);
  printf("epoll_wait until the peer closes: ret=%d data=%llu events=%s\n", r,
         (unsigned long long)out[0].data.u64, ev((short)out[0].events));
  pthread_join(t, NULL);
  close(sv[0]);

  /* errors */
  EXPECT_ERR("epoll_wait maxevents 0: EINVAL", epoll_wait(ep, out, 0, 0), EINVAL);
  EXPECT_ERR("epoll_wait on a pipe: EINVAL", epoll_wait(p[0], out, 8, 0), EINVAL);
  EXPECT_ERR("epoll_wait on a closed fd: EBADF", epoll_wait(1000, out, 8, 0), EBADF);
  e.data.u64 = 6001;
  epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
  if (write(p[1], "z", 1) != 1) g_failures++;
  EXPECT_ERR("epoll_wait into (void*)1 with an event ready: EFAULT", epoll_wait(ep, (struct epoll_event*)BADPTR, 8, 0), EFAULT);

  /* epoll_pwait */
  drain1(p[0]);
  t0 = now_ns(CLOCK_MONOTONIC);
  SHOW("epoll_pwait 40ms, nothing ready", epoll_pwait(ep, out, 8, 40, NULL));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 40 * MS, "epoll_pwait did not return early", "early");

  close(ep);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  return NULL;
}

/* ---- many threads each polling their own pipe at once ---- */

#define POLLERS 20
static int g_pp[POLLERS][2];
static void* poller(void* p) {
  intptr_t i = (intptr_t)p;
  struct pollfd f = {g_pp[i][0], POLLIN, 0};
  int r = poll(&f, 1, 20000);
  char c = 0;
  if (r == 1 && read(g_pp[i][0], &c, 1) == 1 && c == (char)('a' + i)) return (void*)1;
  return NULL;
}

static void check_many_pollers(void) {
  pthread_t t[POLLERS];
  for (intptr_t i = 0; i < POLLERS; i++) {
    if (pipe(g_pp[i]) != 0) exit(2);
    pthread_create(&t[i], NULL, poller, (void*)i);
  }
  tasks_sample();
  usleep(20000);
  for (int i = POLLERS - 1; i >= 0; i--) {
    char c = (char)('a' + i);
    if (write(g_pp[i][1], &c, 1) != 1) g_failures++;
  }
  int ok = 0;
  for (int i = 0; i < POLLERS; i++) {
    void* v;
    pthread_join(t[i], &v);
    ok += v != NULL;
    close(g_pp[i][0]);
    close(g_pp[i][1]);
  }
  printf("20 threads polling their own pipe: %d got their byte\n", ok);
}

static void run_in_thread(void* (*fn)(void*)) {
  pthread_t t;
  pthread_create(&t, NULL, fn, NULL);
  pthread_join(t, NULL);
}

int main(void) {
  test_start();
  run_in_thread(poll_checks);
  run_in_thread(select_checks);
  run_in_thread(epoll_checks);
  check_many_pollers();
  /* and once more from main, alone */
  printf("-- from main --\n");
  poll_checks(NULL);
  select_checks(NULL);
  epoll_checks(NULL);
  return test_end();
}
