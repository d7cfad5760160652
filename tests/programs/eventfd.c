// SPDX-License-Identifier: MIT
/* Blocking eventfds shared by threads (docs/design.md, "Eventfds").
 *
 * 1. nginx's thread pool: main waits in epoll_wait on a *blocking* eventfd
 *    (edge-triggered), workers take tasks from a mutex and condvar queue and
 *    each finished task writes 1 to the eventfd. Every task comes back once.
 * 2. Eight threads add to one counter; one read takes the exact sum.
 * 3. A write that would take the counter past its maximum waits until a
 *    read makes room, then completes: the reads see the counter, then the
 *    value (1, and 2, which waits although poll says POLLOUT).
 * 4. The native errors: a short buffer and the value 2^64-1 (EINVAL), a bad
 *    pointer (EFAULT), a 16-byte buffer; a value of 2^40 is added like any
 *    other.
 * 5. The same on eventfds the shim did not see made: one from a raw
 *    syscall(SYS_eventfd2), and a dup of a blocking one.
 * 6. EFD_SEMAPHORE: six threads block in read, then in glibc's
 *    eventfd_read; a write of 6 and an eventfd_write of 6 release them, each
 *    read returning 1.
 */
#include "common.h"
#include "notify_pool.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

/* ---- 1. a thread pool that reports through a blocking eventfd ---- */

#define WORKERS 4
#define TASKS 20000
#define IN_FLIGHT 64

static int g_notify = -1;

static void notify_eventfd(void) {
  uint64_t one = 1;
  if (write(g_notify, &one, sizeof one) != (ssize_t)sizeof one) g_failures++;
}

static void test_pool(void) {
  g_notify = eventfd(0, 0); /* blocking, as nginx's notify fd */
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data = {.u32 = 7}};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, g_notify, &ev) != 0) g_failures++;
  np_start(WORKERS, notify_eventfd);
  tasks_sample();
  struct np_task* tasks = calloc(TASKS, sizeof *tasks);
  int posted = 0, back = 0, wrong = 0;
  uint64_t want = 0, got = 0;
  for (int i = 0; i < TASKS; i++) tasks[i].input = fnv1a(FNV_INIT, &i, sizeof i);
  while (posted < IN_FLIGHT) np_post(&tasks[posted++]);
  while (back < TASKS) {
    struct epoll_event out;
    int n = epoll_wait(ep, &out, 1, -1);
    if (n != 1 || out.data.u32 != 7) {
      g_failures++;
      break;
    }
    uint64_t count = 0;
    if (read(g_notify, &count, sizeof count) != (ssize_t)sizeof count) g_failures++;
    for (struct np_task* d = np_take_done(); d; d = d->next) {
      back++;
      if (d->output != np_work(d->input)) wrong++;
      got ^= d->output;
      if (posted < TASKS) np_post(&tasks[posted++]);
    }
  }
  np_stop();
  for (int i = 0; i < TASKS; i++) want ^= np_work(tasks[i].input);
  printf("thread pool through a blocking eventfd: %d tasks back, %d wrong\n", back, wrong);
  CHECK(got == want, "every task came back once", "results differ");
  free(tasks);
  close(ep);
  close(g_notify);
}

/* ---- 2. eight threads add to one counter ---- */

#define ADDERS 8
#define ADDS 1000

static void* adder(void* p) {
  int fd = (int)(intptr_t)p;
  for (int i = 0; i < ADDS; i++) {
    uint64_t v = 5;
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) g_failures++;
  }
  return NULL;
}

static void test_sum(int fd, const char* what) {
  pthread_t t[ADDERS];
  for (int i = 0; i < ADDERS; i++) pthread_create(&t[i], NULL, adder, (void*)(intptr_t)fd);
  for (int i = 0; i < ADDERS; i++) pthread_join(t[i], NULL);
  uint64_t v = 0;
  ssize_t r = read(fd, &v, sizeof v);
  printf("%s: %d threads x %d writes of 5: read ret=%zd value=%llu\n", what, ADDERS, ADDS, r,
         (unsigned long long)v);
}

/* ---- 3. a write that would reach the maximum waits for a read ---- */

struct full_writer {
  int fd;
  uint64_t value;
  int gate[2];
  ssize_t ret;
  int err;
};

static void* write_value(void* p) {
  struct full_writer* w = (struct full_writer*)p;
  if (write(w->gate[1], "g", 1) != 1) g_failures++;
  errno = 0;
  w->ret = write(w->fd, &w->value, sizeof w->value);
  w->err = errno;
  return NULL;
}

/* The counter at 2^64-1-value, so that adding `value` must wait (the
   counter holds at most 2^64-2): the writer tells main through a pipe just
   before it writes, so under the shim (one carrier) it is in its write when
   main reads; main's read then makes room. For value 2 poll still says
   POLLOUT (there is room for 1). */
static void test_full(int fd, uint64_t value, const char* what) {
  uint64_t start = UINT64_MAX - value;
  ssize_t r = write(fd, &start, sizeof start);
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int writable = poll(&p, 1, 0);
  printf("%s: counter at 2^64-1-%llu: write ret=%zd, poll POLLOUT=%d\n", what,
         (unsigned long long)value, r, writable);
  struct full_writer w = {.fd = fd, .value = value};
  if (pipe(w.gate) != 0) g_failures++;
  pthread_t t;
  pthread_create(&t, NULL, write_value, &w);
  char c;
  if (read(w.gate[0], &c, 1) != 1) g_failures++;
  uint64_t v = 0;
  r = read(fd, &v, sizeof v); /* makes room: the writer's value goes in */
  pthread_join(t, NULL);
  char label[96];
  snprintf(label, sizeof label, "%s: the read took the counter, not more", what);
  CHECK(r == 8 && v == start, label, "ret=%zd value=%llu", r, (unsigned long long)v);
  printf("%s: the waiting write of %llu: ret=%zd errno=%s\n", what, (unsigned long long)value,
         w.ret, w.ret < 0 ? errname(w.err) : "0");
  r = read(fd, &v, sizeof v);
  printf("%s: then read ret=%zd value=%llu\n", what, r, (unsigned long long)v);
  close(w.gate[0]);
  close(w.gate[1]);
}

/* ---- 4. the native errors ---- */

static void test_errors(int fd, const char* what) {
  char label[96];
  uint32_t small = 1;
  snprintf(label, sizeof label, "%s: a 4-byte write: EINVAL", what);
  EXPECT_ERR(label, write(fd, &small, sizeof small), EINVAL);
  uint64_t max = UINT64_MAX;
  snprintf(label, sizeof label, "%s: the value 2^64-1: EINVAL", what);
  EXPECT_ERR(label, write(fd, &max, sizeof max), EINVAL);
  snprintf(label, sizeof label, "%s: a bad pointer: EFAULT", what);
  EXPECT_ERR(label, write(fd, BADPTR, 8), EFAULT);
  uint64_t big = 1ull << 40, v = 0;
  uint64_t pair[2] = {3, 99}; /* whatever the kernel does with 16 bytes */
  ssize_t a = write(fd, &big, sizeof big);
  errno = 0;
  ssize_t b = write(fd, pair, sizeof pair);
  int b_err = errno;
  ssize_t r = read(fd, &v, sizeof v);
  printf(
      "%s: 2^40, then a 16-byte write ret=%zd errno=%s: write ret=%zd, read ret=%zd value=%llu\n",
      what, b, b < 0 ? errname(b_err) : "0", a, r, (unsigned long long)v);
}

/* ---- 6. EFD_SEMAPHORE: blocked readers each take 1 ---- */

#define SEM_READERS 6

static void* sem_reader(void* p) {
  int fd = (int)(intptr_t)p;
  uint64_t v = 0;
  if (read(fd, &v, sizeof v) != (ssize_t)sizeof v || v != 1) g_failures++;
  eventfd_t w = 0; /* glibc's wrapper: parks like read */
  if (eventfd_read(fd, &w) != 0 || w != 1) g_failures++;
  return NULL;
}

static void test_semaphore(void) {
  int fd = eventfd(0, EFD_SEMAPHORE);
  pthread_t t[SEM_READERS];
  for (int i = 0; i < SEM_READERS; i++)
    pthread_create(&t[i], NULL, sem_reader, (void*)(intptr_t)fd);
  uint64_t six = SEM_READERS;
  ssize_t r = write(fd, &six, sizeof six);
  if (eventfd_write(fd, SEM_READERS) != 0) g_failures++; /* the second round */
  for (int i = 0; i < SEM_READERS; i++) pthread_join(t[i], NULL);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  printf("semaphore eventfd: write ret=%zd, %d readers got 1 each, then POLLIN=%d\n", r,
         SEM_READERS, poll(&p, 1, 0));
  close(fd);
}

int main(void) {
  test_start();
  test_pool();

  int fd = eventfd(0, EFD_CLOEXEC);
  test_sum(fd, "eventfd()");
  test_full(fd, 1, "eventfd()");
  test_full(fd, 2, "eventfd()");
  test_errors(fd, "eventfd()");

  /* Made behind the shim's back, and a second fd for the same counter. */
  int raw = (int)syscall(SYS_eventfd2, 0, 0);
  test_sum(raw, "raw eventfd2");
  test_full(raw, 1, "raw eventfd2");
  test_errors(raw, "raw eventfd2");
  int dup_fd = dup(fd);
  test_sum(dup_fd, "dup");
  test_full(dup_fd, 2, "dup");
  close(dup_fd);
  close(raw);
  close(fd);

  test_semaphore();
  return test_end();
}
