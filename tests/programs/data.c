// SPDX-License-Identifier: MIT
/* Data calls between threads: read/write/readv/writev/recv/send on pipes and
 * socketpairs. Full-write semantics for large blocking writes, EOF, EPIPE,
 * EBADF, EFAULT. Built twice: plain and with -D_FORTIFY_SOURCE=2 (so that
 * read/recv/recvfrom go through __read_chk/__recv_chk/__recvfrom_chk). */
#include "common.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

#define BIG (4u << 20) /* 4 MiB */

/* Sizes the compiler cannot see, so that fortified builds call __*_chk. */
static volatile size_t v_small = 100;

/* ---- 1. a 4 MiB write to a pipe, read slowly by another thread ---- */

static struct gate g_start;

struct big_pipe {
  int fd;
  unsigned seed;
  ssize_t write_ret;
  int write_errno;
  uint64_t sum;
  size_t got;
};

static void* big_writer(void* p) {
  struct big_pipe* b = (struct big_pipe*)p;
  unsigned char* buf = (unsigned char*)malloc(BIG);
  pattern_fill(b->seed, 0, buf, BIG);
  b->sum = fnv1a(FNV_INIT, buf, BIG);
  errno = 0;
  b->write_ret = write(b->fd, buf, BIG); /* one call: must write it all */
  b->write_errno = errno;
  close(b->fd);
  free(buf);
  return NULL;
}

static void* slow_reader(void* p) {
  struct big_pipe* b = (struct big_pipe*)p;
  char buf[4096]; /* known size: __read_chk in fortified builds */
  uint64_t h = FNV_INIT;
  size_t got = 0, n = 0;
  gate_wait(&g_start); /* main counts the threads first */
  for (;;) {
    size_t want = v_small * 40; /* 4000, not a multiple of anything */
    ssize_t r = read(b->fd, buf, want);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    h = fnv1a(h, buf, (size_t)r);
    got += (size_t)r;
    if (++n % 64 == 0) usleep(200); /* slow: the writer fills the pipe */
  }
  b->sum = h;
  b->got = got;
  close(b->fd);
  return NULL;
}

static void test_big_pipe_write(void) {
  int fds[2];
  if (pipe(fds) != 0) exit(2);
  struct big_pipe w = {fds[1], 7, 0, 0, 0, 0}, r = {fds[0], 7, 0, 0, 0, 0};
  pthread_t tw, tr;
  gate_init(&g_start);
  pthread_create(&tr, NULL, slow_reader, &r);
  pthread_create(&tw, NULL, big_writer, &w);
  tasks_sample(); /* the reader waits for the gate, the writer for the reader */
  gate_open(&g_start, 1);
  pthread_join(tw, NULL);
  pthread_join(tr, NULL);
  CHECK(w.write_ret == (ssize_t)BIG, "pipe 4MiB write returns the full count", "ret=%zd errno=%s",
        w.write_ret, errname(w.write_errno));
  CHECK(r.got == BIG, "pipe reader got 4MiB then EOF", "got=%zu", r.got);
  CHECK(r.sum == w.sum, "pipe data checksum", "differs");
  gate_close(&g_start);
}

/* ---- 2. writev/readv and send/recv of a large vector on a socketpair ---- */

struct vec_io {
  int fd;
  ssize_t ret;
  int err;
  uint64_t sum;
  size_t got;
};

static void* vec_writer(void* p) {
  struct vec_io* v = (struct vec_io*)p;
  /* three pieces, 1 MiB + 17 + 2 MiB - 5 */
  size_t sz[3] = {1u << 20, 17, (2u << 20) - 5};
  struct iovec iov[3];
  uint64_t off = 0, h = FNV_INIT;
  for (int i = 0; i < 3; i++) {
    iov[i].iov_base = malloc(sz[i]);
    iov[i].iov_len = sz[i];
    pattern_fill(11, off, (unsigned char*)iov[i].iov_base, sz[i]);
    h = fnv1a(h, iov[i].iov_base, sz[i]);
    off += sz[i];
  }
  v->sum = h;
  errno = 0;
  v->ret = writev(v->fd, iov, 3);
  v->err = errno;
  shutdown(v->fd, SHUT_WR);
  for (int i = 0; i < 3; i++) free(iov[i].iov_base);
  return NULL;
}

static void* vec_reader(void* p) {
  struct vec_io* v = (struct vec_io*)p;
  char a[1000], b[3001], c[77];
  uint64_t h = FNV_INIT;
  size_t got = 0;
  int n = 0;
  for (;;) {
    struct iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
    ssize_t r = readv(v->fd, iov, 3);
    if (r <= 0) {
      v->err = r < 0 ? errno : 0;
      break;
    }
    size_t left = (size_t)r;
    for (int i = 0; i < 3 && left > 0; i++) {
      size_t k = left < iov[i].iov_len ? left : iov[i].iov_len;
      h = fnv1a(h, iov[i].iov_base, k);
      left -= k;
    }
    got += (size_t)r;
    if (++n % 128 == 0) sched_yield();
  }
  v->sum = h;
  v->got = got;
  return NULL;
}

static void test_vectors(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  struct vec_io w = {sv[0], 0, 0, 0, 0}, r = {sv[1], 0, 0, 0, 0};
  pthread_t tw, tr;
  pthread_create(&tw, NULL, vec_writer, &w);
  pthread_create(&tr, NULL, vec_reader, &r);
  pthread_join(tw, NULL);
  pthread_join(tr, NULL);
  const ssize_t total = (3 << 20) + 12;
  CHECK(w.ret == total, "socketpair 3MiB writev returns the full count", "ret=%zd errno=%s", w.ret,
        errname(w.err));
  CHECK(r.got == (size_t)total && r.err == 0, "socketpair readv got everything then EOF",
        "got=%zu err=%s", r.got, errname(r.err));
  CHECK(r.sum == w.sum, "socketpair writev/readv checksum", "differs");
  close(sv[0]);
  close(sv[1]);
}

/* ---- 3. send/recv both ways, MSG_WAITALL, MSG_PEEK ---- */

struct ping {
  int fd;
  int rounds;
  int bad;
};

static void* pong(void* p) {
  struct ping* g = (struct ping*)p;
  char buf[256];
  for (int i = 0; i < g->rounds; i++) {
    size_t want = v_small;
    ssize_t r = recv(g->fd, buf, want, MSG_WAITALL); /* __recv_chk when fortified */
    if (r != 100) {
      g->bad++;
      break;
    }
    for (int k = 0; k < 100; k++) buf[k] = (char)(buf[k] + 1);
    if (send(g->fd, buf, 100, 0) != 100) g->bad++;
  }
  return NULL;
}

static void test_ping_pong(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  struct ping g = {sv[1], 200, 0};
  pthread_t t;
  pthread_create(&t, NULL, pong, &g);
  int bad = 0;
  char out[100], in[100];
  for (int i = 0; i < g.rounds; i++) {
    memset(out, (char)i, sizeof out);
    /* send in two pieces: the peer's MSG_WAITALL must gather them */
    if (send(sv[0], out, 30, 0) != 30) bad++;
    if (i % 3 == 0) sched_yield();
    if (send(sv[0], out + 30, 70, 0) != 70) bad++;
    ssize_t r = recv(sv[0], in, 1, MSG_PEEK | MSG_WAITALL);
    if (r != 1 || in[0] != (char)(i + 1)) bad++;
    if (read_full(sv[0], in, sizeof in) != 100) bad++;
    for (int k = 0; k < 100; k++)
      if (in[k] != (char)(i + 1)) {
        bad++;
        break;
      }
  }
  pthread_join(t, NULL);
  CHECK(bad == 0 && g.bad == 0, "socketpair 200 ping-pong rounds with MSG_WAITALL and MSG_PEEK",
        "bad=%d peer_bad=%d", bad, g.bad);
  close(sv[0]);
  close(sv[1]);
}

/* ---- 4. errors, run in a thread while main is joined (so the shim's
 *         green paths are the ones taken) ---- */

struct late_writer {
  int fd;
  int close_instead;
};

static void* late(void* p) {
  struct late_writer* l = (struct late_writer*)p;
  usleep(20000); /* the reader is (very likely) blocked by now */
  if (l->close_instead) {
    close(l->fd);
  } else {
    if (write(l->fd, "hello", 5) != 5) g_failures++;
  }
  return NULL;
}

static void* error_checks(void* unused) {
  (void)unused;
  int fds[2];
  char buf[64];

  /* A blocking read woken by data written later by another thread. */
  if (pipe(fds) != 0) exit(2);
  struct late_writer lw = {fds[1], 0};
  pthread_t t;
  pthread_create(&t, NULL, late, &lw);
  size_t want = v_small / 2;
  ssize_t r = read(fds[0], buf, want);
  CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "blocking pipe read gets data written later",
        "ret=%zd", r);
  pthread_join(t, NULL);

  /* EOF: the writer closes while the reader is blocked. */
  lw.close_instead = 1;
  pthread_create(&t, NULL, late, &lw);
  errno = 0;
  r = read(fds[0], buf, want);
  SHOW("pipe read after the writer closed (EOF)", r);
  pthread_join(t, NULL);
  r = read(fds[0], buf, want);
  SHOW("pipe read at EOF again", r);

  /* EBADF on a closed fd, and on -1. */
  close(fds[0]);
  EXPECT_ERR("read on a closed fd: EBADF", read(fds[0], buf, want), EBADF);
  EXPECT_ERR("write on a closed fd: EBADF", write(fds[0], buf, 1), EBADF);
  EXPECT_ERR("read(-1): EBADF", read(-1, buf, want), EBADF);
  struct iovec iov = {buf, 4};
  EXPECT_ERR("readv on a closed fd: EBADF", readv(fds[0], &iov, 1), EBADF);
  EXPECT_ERR("writev on a closed fd: EBADF", writev(fds[0], &iov, 1), EBADF);
  EXPECT_ERR("close of a closed fd: EBADF", close(fds[0]), EBADF);

  /* EFAULT: bad pointers, with data ready and without. */
  if (pipe(fds) != 0) exit(2);
  if (write(fds[1], "abc", 3) != 3) g_failures++;
  EXPECT_ERR("read into (void*)1 with data ready: EFAULT", read(fds[0], BADPTR, 3), EFAULT);
  EXPECT_ERR("write from (void*)1: EFAULT", write(fds[1], BADPTR, 3), EFAULT);
  struct iovec bad = {BADPTR, 3};
  EXPECT_ERR("readv into (void*)1: EFAULT", readv(fds[0], &bad, 1), EFAULT);
  EXPECT_ERR("writev from (void*)1: EFAULT", writev(fds[1], &bad, 1), EFAULT);
  EXPECT_ERR("readv with iov at (void*)1: EFAULT", readv(fds[0], BADPTR, 1), EFAULT);
  EXPECT_ERR("writev with iov at (void*)1: EFAULT", writev(fds[1], BADPTR, 1), EFAULT);
  r = read(fds[0], buf, want); /* whatever EFAULT left behind */
  CHECK(r >= 0, "pipe still readable after EFAULT", "ret=%zd errno=%s", r, errname(errno));
  close(fds[0]);
  close(fds[1]);

  /* EFAULT on a blocking read that has to wait. */
  if (pipe(fds) != 0) exit(2);
  lw.fd = fds[1];
  lw.close_instead = 0;
  pthread_create(&t, NULL, late, &lw);
  EXPECT_ERR("blocking read into (void*)1 that waits: EFAULT", read(fds[0], BADPTR, 5), EFAULT);
  pthread_join(t, NULL);
  close(fds[0]);
  close(fds[1]);

  /* EPIPE: writing to a pipe whose reader is gone (SIGPIPE ignored). */
  if (pipe(fds) != 0) exit(2);
  close(fds[0]);
  EXPECT_ERR("write to a pipe without reader: EPIPE", write(fds[1], "x", 1), EPIPE);
  close(fds[1]);

  /* EPIPE on a socketpair whose peer closed, with MSG_NOSIGNAL. */
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  close(sv[1]);
  EXPECT_ERR("send to a closed socketpair peer: EPIPE", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
  r = recv(sv[0], buf, want, 0);
  SHOW("recv from a closed socketpair peer (EOF)", r);
  close(sv[0]);

  /* EFAULT through the socket message calls. */
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(2);
  EXPECT_ERR("sendmsg with msg at (void*)1: EFAULT", sendmsg(sv[0], BADPTR, 0), EFAULT);
  EXPECT_ERR("writev with iov at (void*)1 on a socket: EFAULT", writev(sv[0], BADPTR, 2), EFAULT);
  EXPECT_ERR("send from (void*)1: EFAULT", send(sv[0], BADPTR, 10, 0), EFAULT);
  if (send(sv[1], "abc", 3, 0) != 3) g_failures++;
  EXPECT_ERR("recvmsg with msg at (void*)1: EFAULT", recvmsg(sv[0], BADPTR, 0), EFAULT);
  EXPECT_ERR("recv into (void*)1: EFAULT", recv(sv[0], BADPTR, 3, 0), EFAULT);
  close(sv[0]);
  close(sv[1]);

  /* Zero-length transfers. */
  if (pipe(fds) != 0) exit(2);
  SHOW("read of 0 bytes on an empty pipe", read(fds[0], buf, 0));
  SHOW("write of 0 bytes to a pipe", write(fds[1], buf, 0));
  close(fds[0]);
  close(fds[1]);

  /* recvfrom / recv on a non-socket: ENOTSOCK. */
  if (pipe(fds) != 0) exit(2);
  EXPECT_ERR("recv on a pipe: ENOTSOCK", recv(fds[0], buf, want, 0), ENOTSOCK);
  EXPECT_ERR("send on a pipe: ENOTSOCK", send(fds[1], buf, 1, 0), ENOTSOCK);
  close(fds[0]);
  close(fds[1]);

  /* recvfrom with an address on a datagram socketpair. */
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) exit(2);
  lw.fd = sv[1];
  pthread_create(&t, NULL, late, &lw);
  struct sockaddr_storage from;
  socklen_t fromlen = sizeof from;
  r = recvfrom(sv[0], buf, want, 0, (struct sockaddr*)&from, &fromlen);
  CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "recvfrom on a datagram socketpair", "ret=%zd",
        r);
  pthread_join(t, NULL);
  /* datagrams keep their boundaries: two sends, two receives */
  if (send(sv[1], "one", 3, 0) != 3 || send(sv[1], "three", 5, 0) != 5) g_failures++;
  ssize_t a = recv(sv[0], buf, sizeof buf, 0);
  ssize_t b = recv(sv[0], buf, sizeof buf, 0);
  printf("datagram sizes: %zd %zd\n", a, b);
  /* a datagram longer than the buffer is truncated */
  if (send(sv[1], "truncated", 9, 0) != 9) g_failures++;
  SHOW("recv of a 9-byte datagram into 4 bytes", recv(sv[0], buf, 4, 0));
  close(sv[0]);
  close(sv[1]);
  return NULL;
}

static void test_errors(void) {
  pthread_t t;
  pthread_create(&t, NULL, error_checks, NULL);
  pthread_join(t, NULL);
}

/* ---- 5. many threads writing to one pipe: PIPE_BUF writes are atomic ---- */

#define ATOMIC_WRITERS 8
#define ATOMIC_RECS 500

struct rec {
  uint32_t writer, seq;
  unsigned char pad[120];
};

static int g_atomic_fd;

static void* atomic_writer(void* p) {
  uint32_t id = (uint32_t)(uintptr_t)p;
  struct rec r;
  for (uint32_t s = 0; s < ATOMIC_RECS; s++) {
    r.writer = id;
    r.seq = s;
    memset(r.pad, (int)(id * 31 + s), sizeof r.pad);
    if (write(g_atomic_fd, &r, sizeof r) != (ssize_t)sizeof r) g_failures++;
    if (s % 50 == 0) sched_yield();
  }
  return NULL;
}

static void test_atomic_writes(void) {
  int fds[2];
  if (pipe(fds) != 0) exit(2);
  g_atomic_fd = fds[1];
  pthread_t t[ATOMIC_WRITERS];
  for (int i = 0; i < ATOMIC_WRITERS; i++)
    pthread_create(&t[i], NULL, atomic_writer, (void*)(uintptr_t)i);
  uint32_t next[ATOMIC_WRITERS] = {0};
  int bad = 0;
  for (int n = 0; n < ATOMIC_WRITERS * ATOMIC_RECS; n++) {
    struct rec r;
    if (read_full(fds[0], &r, sizeof r) != (ssize_t)sizeof r) {
      bad++;
      break;
    }
    if (r.writer >= ATOMIC_WRITERS || r.seq != next[r.writer]) bad++;
    else next[r.writer]++;
    for (size_t k = 0; k < sizeof r.pad; k++)
      if (r.pad[k] != (unsigned char)(r.writer * 31 + r.seq)) {
        bad++;
        break;
      }
  }
  for (int i = 0; i < ATOMIC_WRITERS; i++) pthread_join(t[i], NULL);
  CHECK(bad == 0, "8 threads x 500 records of 128 bytes through one pipe, in order, unmixed",
        "bad=%d", bad);
  close(fds[0]);
  close(fds[1]);
}

/* ---- 6. sendfile and splice into a socket read slowly by another thread ---- */

struct slow_sock {
  int fd;
  size_t got;
  uint64_t sum;
};

static void* slow_sock_reader(void* p) {
  struct slow_sock* r = (struct slow_sock*)p;
  char buf[4096];
  uint64_t h = FNV_INIT;
  size_t got = 0;
  int n = 0;
  for (;;) {
    ssize_t k = read(r->fd, buf, sizeof buf);
    if (k <= 0) break;
    h = fnv1a(h, buf, (size_t)k);
    got += (size_t)k;
    if (++n % 64 == 0) usleep(500);
  }
  r->got = got;
  r->sum = h;
  return NULL;
}

static void test_sendfile_splice(void) {
  char path[] = "/tmp/gh_data_XXXXXX";
  int f = mkstemp(path);
  if (f < 0) exit(2);
  unlink(path);
  unsigned char* b = (unsigned char*)malloc(BIG);
  pattern_fill(21, 0, b, BIG);
  if (write(f, b, BIG) != (ssize_t)BIG) exit(2);
  uint64_t want = fnv1a(FNV_INIT, b, BIG);
  free(b);

  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  struct slow_sock r = {sv[1], 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, slow_sock_reader, &r);
  off_t off = 0;
  ssize_t n = sendfile(sv[0], f, &off, BIG);
  close(sv[0]);
  pthread_join(t, NULL);
  CHECK(n == (ssize_t)BIG && off == (off_t)BIG, "sendfile of 4MiB into a slowly read socket",
        "ret=%zd off=%ld errno=%s", n, (long)off, errname(errno));
  CHECK(r.got == BIG && r.sum == want, "sendfile data checksum", "got=%zu", r.got);
  close(sv[1]);

  /* file -> pipe -> socket with splice, the pipe and socket read slowly */
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  r.fd = sv[1];
  pthread_create(&t, NULL, slow_sock_reader, &r);
  int p[2];
  if (pipe(p) != 0) exit(2);
  loff_t lo = 0;
  size_t total = 0;
  int bad = 0;
  while (total < BIG && !bad) {
    ssize_t in = splice(f, &lo, p[1], NULL, BIG - total, 0);
    if (in <= 0) {
      bad = 1;
      break;
    }
    ssize_t moved = 0;
    while (moved < in) {
      ssize_t k = splice(p[0], NULL, sv[0], NULL, (size_t)(in - moved), 0);
      if (k <= 0) {
        bad = 2;
        break;
      }
      moved += k;
    }
    total += (size_t)in;
  }
  close(sv[0]);
  pthread_join(t, NULL);
  CHECK(!bad && total == BIG && lo == (loff_t)BIG, "splice file->pipe->socket of 4MiB",
        "bad=%d total=%zu", bad, total);
  CHECK(r.got == BIG && r.sum == want, "splice data checksum", "got=%zu", r.got);
  EXPECT_ERR("splice with an offset for a pipe: ESPIPE", splice(p[0], &lo, p[1], NULL, 1, 0), ESPIPE);
  loff_t neg = -5;
  EXPECT_ERR("splice with a negative file offset: EINVAL", splice(f, &neg, p[1], NULL, 1, 0), EINVAL);
  EXPECT_ERR("sendfile from a closed fd: EBADF", sendfile(sv[1], 999, NULL, 10), EBADF);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
  close(f);
}

/* ---- 7. pollable devices: eventfd and timerfd read by blocked threads ---- */

static void* efd_writer(void* p) {
  int fd = (int)(intptr_t)p;
  usleep(20000);
  uint64_t v = 3;
  if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) g_failures++;
  return NULL;
}

static void* pollable_checks(void* unused) {
  (void)unused;
  int e = eventfd(0, EFD_CLOEXEC);
  pthread_t t;
  pthread_create(&t, NULL, efd_writer, (void*)(intptr_t)e);
  uint64_t v = 0;
  ssize_t r = read(e, &v, sizeof v);
  printf("eventfd read blocked until another thread wrote: ret=%zd value=%llu\n", r,
         (unsigned long long)v);
  pthread_join(t, NULL);
  char small[4];
  EXPECT_ERR("eventfd read into 4 bytes: EINVAL", read(e, small, sizeof small), EINVAL);
  close(e);
  e = eventfd(0, EFD_NONBLOCK);
  EXPECT_ERR("EFD_NONBLOCK eventfd read at 0: EAGAIN", read(e, &v, sizeof v), EAGAIN);
  close(e);

  int tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  struct itimerspec its = {{0, 0}, {0, 30000000}};
  timerfd_settime(tf, 0, &its, NULL);
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  r = read(tf, &v, sizeof v);
  printf("timerfd read: ret=%zd expirations=%llu\n", r, (unsigned long long)v);
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 29000000, "timerfd read did not return early", "early");
  close(tf);
  return NULL;
}

int main(void) {
  test_start();
  test_big_pipe_write();
  test_vectors();
  test_ping_pong();
  test_errors();
  test_atomic_writes();
  test_sendfile_splice();
  pthread_t t;
  pthread_create(&t, NULL, pollable_checks, NULL);
  pthread_join(t, NULL);
  return test_end();
}
