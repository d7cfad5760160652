// SPDX-License-Identifier: MIT
/* Helpers shared by the differential conformance programs (tests/programs/).
 *
 * Every program is written the legacy way (pthreads, blocking calls) and is
 * run twice by tests/integration/run_diff.sh: natively and under the shim.
 * Its stdout and exit status must be identical, so a program prints only
 * results that do not depend on timing: return values, errno names, "ok" for
 * checks and "FAIL ..." lines (which also make the exit status 1).
 *
 * Programs that use threads call tasks_sample() at points where all their
 * threads are alive. When GREENHOUSE_TEST_TASKS names a file, the largest
 * number of OS threads seen is written there; the harness requires it to be
 * 1 under the shim (the threads are green) and > 1 natively.
 */
#ifndef GH_TEST_COMMON_H
#define GH_TEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_failures;

/* An address that is never mapped, hidden from the compiler's checks. */
static volatile uintptr_t g_bad_address = 1;
#define BADPTR ((void*)g_bad_address)

/* "EAGAIN", "EBADF", ... or "0" for no error. */
static inline const char* errname(int e) {
  if (e == 0) return "0";
  const char* n = strerrorname_np(e);
  return n ? n : "E?";
}

/* Prints "label: ok" or "label: FAIL (detail)" and counts the failure. */
#define CHECK(cond, label, ...)      \
  do {                               \
    if (cond) {                      \
      printf("%s: ok\n", (label));   \
    } else {                         \
      g_failures++;                  \
      printf("%s: FAIL (", (label)); \
      printf(__VA_ARGS__);           \
      printf(")\n");                 \
    }                                \
  } while (0)

/* A system call's result: "label: ret=R errno=E" with errno only on -1. */
#define SHOW(label, r)                                                           \
  do {                                                                           \
    long r_ = (long)(r);                                                         \
    int e_ = errno;                                                              \
    printf("%s: ret=%ld errno=%s\n", (label), r_, r_ == -1 ? errname(e_) : "0"); \
  } while (0)

/* Expects a call to have failed with -1 and errno `want`. */
#define EXPECT_ERR(label, call, want)                                                         \
  do {                                                                                        \
    errno = 0;                                                                                \
    long r_ = (long)(call);                                                                   \
    int e_ = errno;                                                                           \
    CHECK(r_ == -1 && e_ == (want), (label), "ret=%ld errno=%s, want -1 %s", r_, errname(e_), \
          errname(want));                                                                     \
  } while (0)

/* Expects a pthread-style call to return `want` (an error number or 0). */
#define EXPECT_RC(label, call, want)                                                    \
  do {                                                                                  \
    int rc_ = (call);                                                                   \
    CHECK(rc_ == (want), (label), "returned %s, want %s", errname(rc_), errname(want)); \
  } while (0)

static inline int64_t now_ns(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A checksum that is sensitive to order (FNV-1a, 64 bit). */
static inline uint64_t fnv1a(uint64_t h, const void* p, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 1099511628211ull;
  }
  return h;
}
#define FNV_INIT 14695981039346656037ull

/* A deterministic byte pattern: byte i of stream `seed`. */
static inline unsigned char pattern_byte(unsigned seed, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 29;
  return (unsigned char)(x ^ (x >> 17));
}
static inline void pattern_fill(unsigned seed, uint64_t off, unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = pattern_byte(seed, off + i);
}

/* The number of OS threads of this process that run the program's code.
 * Kernel io_uring workers ("iou-wrk-*", "iou-sqp-*") are listed in
 * /proc/self/task too, and so are greenhouse's own OS threads ("gh-*": the
 * carriers other than the main thread's, the hand-off monitor, the offload
 * pool); neither is counted. A kernel worker that has not run yet still has
 * the name of the thread that caused it (the kernel renames it when it first
 * runs, which on a loaded machine can take milliseconds), so workers are
 * recognised by their task flag PF_IO_WORKER (field 9 of
 * /proc/self/task/<tid>/stat), not by name. Under the shim the program's
 * threads are green threads on those carriers, so the count is 1: the main
 * thread. */
#define GH_PF_IO_WORKER 0x10ul
static inline int is_io_worker(const char* tid) {
  char path[300], st[512] = {0};
  snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t r = read(fd, st, sizeof st - 1);
  close(fd);
  const char* rest = r > 0 ? strrchr(st, ')') : NULL; /* comm may hold spaces */
  unsigned long flags = 0;
  if (!rest || sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1) return 0;
  return (flags & GH_PF_IO_WORKER) != 0;
}
static inline int count_tasks(void) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  struct dirent* de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char path[300], comm[32] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t r = read(fd, comm, sizeof comm - 1);
      close(fd);
      if (r > 0 && (strncmp(comm, "iou-", 4) == 0 || strncmp(comm, "gh-", 3) == 0)) continue;
    }
    if (is_io_worker(de->d_name)) continue;
    n++;
  }
  closedir(d);
  return n;
}

/* Records the number of OS threads now (the maximum over all calls) in the
 * file named by GREENHOUSE_TEST_TASKS, if set. Call it while all the
 * program's threads are alive. */
static inline void tasks_sample(void) {
  static int max_seen;
  const char* path = getenv("GREENHOUSE_TEST_TASKS");
  if (!path || !*path) return;
  int n = count_tasks();
  if (n <= max_seen) return;
  max_seen = n;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char buf[32];
  int len = snprintf(buf, sizeof buf, "%d\n", n);
  if (write(fd, buf, (size_t)len) != len) g_failures++;
  close(fd);
}

/* Writes all of buf with a loop (for helpers that must not depend on the
 * full-write semantics under test). */
static inline int write_full(int fd, const void* buf, size_t n) {
  const char* p = (const char*)buf;
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads exactly n bytes (or until EOF); returns the count or -1. */
static inline ssize_t read_full(int fd, void* buf, size_t n) {
  char* p = (char*)buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

/* A TCP listener on 127.0.0.1, at a port the kernel picks (backlog 8).
 * Returns its fd and sets *port, or returns -1. */
static inline int loopback_listener(int* port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 8) != 0 ||
      getsockname(l, (struct sockaddr*)&a, &len) != 0) {
    if (l >= 0) close(l);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return l;
}

/* Connects to 127.0.0.1:port and exchanges `rounds` short messages with an
 * echo server there (accept_and_echo), checking each reply. Returns 1 if
 * every round came back intact, 0 if not (or the connection failed). */
static inline int echo_rounds(int port, int rounds) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = s >= 0 && connect(s, (struct sockaddr*)&a, sizeof a) == 0;
  for (int i = 0; ok && i < rounds; i++) {
    char out[32], in[32];
    int len = snprintf(out, sizeof out, "round %d", i);
    ok = write_full(s, out, (size_t)len) == 0 && read_full(s, in, (size_t)len) == len &&
         memcmp(in, out, (size_t)len) == 0;
  }
  if (s >= 0) close(s);
  return ok;
}

/* Echoes what it reads on connection c until the peer closes; closes c. */
static inline void echo_until_closed(int c) {
  char buf[64];
  for (;;) {
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) break;
    if (write_full(c, buf, (size_t)n) != 0) break;
  }
  close(c);
}

/* Accepts one connection on `listener` and echoes what it reads until the
 * peer closes. Counts a failed accept in g_failures. */
static inline void accept_and_echo(int listener) {
  int c = accept(listener, NULL, NULL);
  if (c < 0) {
    g_failures++;
    return;
  }
  echo_until_closed(c);
}

/* A one-shot gate made of a pipe: gate_wait() blocks until gate_open().
 * Used instead of mutexes/condition variables so that the programs outside
 * sync.c do not depend on the green synchronisation primitives. */
struct gate {
  int fds[2];
};
static inline void gate_init(struct gate* g) {
  if (pipe(g->fds) != 0) {
    perror("pipe");
    exit(2);
  }
}
/* Opens the gate for `n` waiters. */
static inline void gate_open(struct gate* g, int n) {
  for (int i = 0; i < n; i++) {
    char c = 'g';
    if (write(g->fds[1], &c, 1) != 1) g_failures++;
  }
}
static inline void gate_wait(struct gate* g) {
  char c;
  if (read(g->fds[0], &c, 1) != 1) g_failures++;
}
static inline void gate_close(struct gate* g) {
  close(g->fds[0]);
  close(g->fds[1]);
}

/* Common start: line-buffered stdout (so that fork and pthread_exit from
 * main print in order), SIGPIPE ignored (EPIPE is what the tests check). */
static inline void test_start(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
}

static inline int test_end(void) {
  printf("failures: %d\n", g_failures);
  fflush(stdout);
  return g_failures ? 1 : 0;
}

/* A thread parked in a read of a pipe until parked_stop(): with it, the
 * threads under test are never alone on their carrier (a lone green thread
 * makes the real blocking call; docs/design.md, "What blocks what"). */
struct parked {
  int fds[2];
  pthread_t t;
};
static inline void* parked_main(void* arg) {
  char c;
  return (void*)(intptr_t)read(((struct parked*)arg)->fds[0], &c, 1);
}
static inline void parked_start(struct parked* p) {
  if (pipe(p->fds) != 0) {
    perror("pipe");
    exit(2);
  }
  pthread_create(&p->t, NULL, parked_main, p);
}
static inline void parked_stop(struct parked* p) {
  if (write(p->fds[1], "q", 1) != 1) g_failures++;
  pthread_join(p->t, NULL);
  close(p->fds[0]);
  close(p->fds[1]);
}

/* The stack of thread t as glibc reports it: [*lo, *hi). */
static inline void thread_stack(pthread_t t, char** lo, char** hi) {
  pthread_attr_t a;
  void* addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(t, &a) == 0) {
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
  }
  *lo = (char*)addr;
  *hi = (char*)addr + size;
}

#endif
