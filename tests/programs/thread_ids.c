// SPDX-License-Identifier: MIT
// Thread ids and /proc/self/task: 16 threads each get an id of their own
// from gettid() and syscall(SYS_gettid), find /proc/self/task/<id> (the
// directory, its status, their name in comm through open and fopen, also
// as /proc/<pid>/task/<id>), and signal and ask each other's ids while they
// are alive; once a thread has ended its id gives ENOENT and ESRCH.
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#define N 16

static pid_t g_tid[N];
static pthread_barrier_t g_all_known, g_all_checked;

static int read_comm_open(const char* path, char* out, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, len - 1);
  close(fd);
  if (n < 0) return -1;
  out[n] = 0;
  return 0;
}

static int read_comm_fopen(const char* path, char* out, size_t len) {
  FILE* f = fopen(path, "re");
  if (!f) return -1;
  char* r = fgets(out, (int)len, f);
  fclose(f);
  return r ? 0 : -1;
}

// Each check's failures across the threads, and the first one's detail:
// main prints them in a fixed order.
enum {
  kGettid,
  kDistinct,
  kNeighbourComm,
  kOwnComm,
  kDir,
  kStatus,
  kTgkill,
  kAffinity,
  kSchedAttr,
  kRawScheduler,
  kChecks
};
static const char* const kLabels[kChecks] = {
    "gettid() == syscall(SYS_gettid), not the pid",
    "ids are distinct",
    "a neighbour's comm by open(/proc/self/task/ID/comm)",
    "its own comm by fopen(/proc/PID/task/ID/comm)",
    "its /proc/self/task/ID directory",
    "status inside it (openat)",
    "tgkill(pid, neighbour, 0)",
    "sched_getaffinity(neighbour)",
    "syscall(SYS_sched_getattr/setattr) on its own id (GLib's thread pools)",
    "syscall(SYS_sched_getscheduler, neighbour) and SYS_getpriority",
};
static atomic_int g_failed[kChecks];
static char g_detail[kChecks][128];

static void note(int check, int ok, const char* fmt, ...) {
  if (ok || atomic_fetch_add(&g_failed[check], 1) != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_detail[check], sizeof g_detail[check], fmt, ap);
  va_end(ap);
}

static void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  pid_t me = gettid();
  g_tid[i] = me;
  note(kGettid, me == (pid_t)syscall(SYS_gettid) && me != getpid(), "%d vs %ld", (int)me,
       (long)syscall(SYS_gettid));
  char name[16];
  snprintf(name, sizeof name, "worker-%d", i);
  pthread_setname_np(pthread_self(), name);
  pthread_barrier_wait(&g_all_known);

  int distinct = 1;
  for (int j = 0; j < N; j++)
    if (j != i && g_tid[j] == me) distinct = 0;
  note(kDistinct, distinct, "thread %d shares %d", i, (int)me);

  int next = (i + 1) % N;
  char path[96], want[32], got[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)g_tid[next]);
  snprintf(want, sizeof want, "worker-%d\n", next);
  int r = read_comm_open(path, got, sizeof got);
  note(kNeighbourComm, r == 0 && strcmp(got, want) == 0, "r=%d '%s'", r,
       r == 0 ? got : strerror(errno));
  snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)getpid(), (int)me);
  snprintf(want, sizeof want, "worker-%d\n", i);
  r = read_comm_fopen(path, got, sizeof got);
  note(kOwnComm, r == 0 && strcmp(got, want) == 0, "r=%d '%s'", r, r == 0 ? got : strerror(errno));
  snprintf(path, sizeof path, "/proc/self/task/%d", (int)me);
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  note(kDir, fd >= 0, "%s", strerror(errno));
  int st = fd >= 0 ? openat(fd, "status", O_RDONLY) : -1;
  note(kStatus, st >= 0, "%s", strerror(errno));
  if (st >= 0) close(st);
  if (fd >= 0) close(fd);
  note(kTgkill, syscall(SYS_tgkill, getpid(), g_tid[next], 0) == 0, "%s", strerror(errno));
  cpu_set_t set;
  note(kAffinity, sched_getaffinity(g_tid[next], sizeof set, &set) == 0, "%s", strerror(errno));
  /* struct sched_attr (56 bytes in its first version), as GLib reads and
   * writes it back: no glibc wrapper, so through syscall(). */
  uint32_t attr[14] = {0};
  long ga = syscall(SYS_sched_getattr, (long)syscall(SYS_gettid), attr, sizeof attr, 0);
  long sa = ga == 0 ? syscall(SYS_sched_setattr, (long)syscall(SYS_gettid), attr, 0) : -1;
  note(kSchedAttr, ga == 0 && sa == 0, "get %ld set %ld: %s", ga, sa, strerror(errno));
  errno = 0;
  long pol = syscall(SYS_sched_getscheduler, (long)g_tid[next]);
  long pri = syscall(SYS_getpriority, PRIO_PROCESS, (long)g_tid[next]);
  note(kRawScheduler, pol >= 0 && errno == 0 && pri >= 0, "policy %ld priority %ld: %s", pol, pri,
       strerror(errno));
  pthread_barrier_wait(&g_all_checked);
  return NULL;
}

int main(void) {
  test_start();
  pthread_barrier_init(&g_all_known, NULL, N);
  pthread_barrier_init(&g_all_checked, NULL, N);
  pthread_t t[N];
  for (int i = 0; i < N; i++)
    if (pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i) != 0) return 2;
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  for (int c = 0; c < kChecks; c++)
    CHECK(atomic_load(&g_failed[c]) == 0, kLabels[c], "%d of %d threads, first: %s",
          atomic_load(&g_failed[c]), N, g_detail[c]);

  // Ended: the ids are gone. (The kernel could in principle hand a number
  // out again natively; 16 ids right after are not reused in practice.)
  char path[96];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)g_tid[0]);
  EXPECT_ERR("an ended thread's comm", open(path, O_RDONLY), ENOENT);
  snprintf(path, sizeof path, "/proc/self/task/%d", (int)g_tid[1]);
  EXPECT_ERR("an ended thread's directory", open(path, O_RDONLY | O_DIRECTORY), ENOENT);
  EXPECT_ERR("tgkill of an ended thread", syscall(SYS_tgkill, getpid(), g_tid[2], 0), ESRCH);
  uint32_t attr[14] = {0};
  EXPECT_ERR("sched_getattr of an ended thread",
             syscall(SYS_sched_getattr, (long)g_tid[3], attr, sizeof attr, 0), ESRCH);
  return test_end();
}
