// SPDX-License-Identifier: MIT
/* Stop-the-world by signals, as Boehm GC (Guile, GC_THREADS programs) and
 * Mono do it: a collector thread sends each thread a "suspend" signal with
 * pthread_kill; the handler records where the thread's stack ends (the
 * address of a local), posts a semaphore and waits in sigsuspend until the
 * "restart" signal. The collector then reads every thread's stack from that
 * address to the stack's base, and restarts the world.
 *
 * That is only sound when the handler runs on the stack of the thread it
 * was sent to, as that thread (pthread_self, its thread-locals), and when its
 * sigsuspend waits without stopping any other thread. The threads here wait
 * in every kind of call when the signal comes (read, poll, mutex, condition
 * variable, semaphore, nanosleep, join) or compute; main waits in
 * pthread_join for the collector and is suspended too. Under the shim these
 * handlers used to run on whatever stack their carrier was on, and their
 * sigsuspend blocked that carrier: Guile crashed or hung. */
#include "common.h"

#include <poll.h>
#include <semaphore.h>

enum { kRead, kPoll, kMutex, kCond, kSem, kSleep, kCompute, kWorkers };
static const char* const kNames[kWorkers] = {"read",      "poll",  "mutex",  "cond",
                                             "semaphore", "sleep", "compute"};
enum { kRounds = 40 };

static pthread_t g_threads[kWorkers + 1]; /* + main */
static __thread int t_index = -1;
static volatile sig_atomic_t g_world_stopped;
static sem_t g_ack;
static sem_t g_started; /* each worker posts it once it runs */

struct Seen {
  char* sp;
  pthread_t self;
  int index;
  int code; /* the siginfo pthread_kill gives: SI_TKILL from this process */
  pid_t pid;
};
static struct Seen g_seen[kWorkers + 1];

static int g_pipes[2][2];
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_cond_done;
static sem_t g_sem;
static volatile int g_done;
static volatile unsigned long g_spins;

static void on_suspend(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  int saved = errno;
  char here;
  int i = t_index;
  if (i >= 0 && i <= kWorkers) {
    g_seen[i].sp = &here;
    g_seen[i].self = pthread_self();
    g_seen[i].index = i;
    g_seen[i].code = si->si_code;
    g_seen[i].pid = si->si_pid;
  }
  sigset_t wait;
  sigfillset(&wait);
  sigdelset(&wait, SIGUSR2);
  sem_post(&g_ack);
  while (g_world_stopped) sigsuspend(&wait);
  sem_post(&g_ack);
  errno = saved;
}

static void on_restart(int sig) { (void)sig; }

static void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  t_index = i;
  sem_post(&g_started);
  char c;
  switch (i) {
    case kRead:
      if (read(g_pipes[0][0], &c, 1) != 1 || c != 'r') printf("FAIL read: %s\n", errname(errno));
      break;
    case kPoll: {
      struct pollfd p = {g_pipes[1][0], POLLIN, 0};
      int r;
      do r = poll(&p, 1, -1);
      while (r < 0 && errno == EINTR);
      if (r != 1) printf("FAIL poll: %d %s\n", r, errname(errno));
      break;
    }
    case kMutex:
      pthread_mutex_lock(&g_mutex);
      pthread_mutex_unlock(&g_mutex);
      break;
    case kCond:
      pthread_mutex_lock(&g_cond_mutex);
      while (!g_cond_done) pthread_cond_wait(&g_cond, &g_cond_mutex);
      pthread_mutex_unlock(&g_cond_mutex);
      break;
    case kSem:
      while (sem_wait(&g_sem) != 0 && errno == EINTR) {
      }
      break;
    case kSleep:
      while (!g_done) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
      }
      break;
    case kCompute:
      while (!g_done) g_spins++;
      break;
  }
  return NULL;
}

/* Whether p lies in thread t's stack. */
static int on_stack_of(pthread_t t, const char* p) {
  pthread_attr_t a;
  void* lo;
  size_t size;
  if (pthread_getattr_np(t, &a) != 0) return 0;
  pthread_attr_getstack(&a, &lo, &size);
  pthread_attr_destroy(&a);
  return p >= (char*)lo && p < (char*)lo + size;
}

static void* collector(void* arg) {
  (void)arg;
  int bad_stack = 0, bad_self = 0, bad_index = 0, bad_info = 0;
  for (int round = 0; round < kRounds; round++) {
    memset(g_seen, 0, sizeof g_seen);
    g_world_stopped = 1;
    for (int i = 0; i <= kWorkers; i++) pthread_kill(g_threads[i], SIGUSR1);
    for (int i = 0; i <= kWorkers; i++) sem_wait(&g_ack);
    /* The world is stopped: every thread's stack is read from the recorded
     * address up (what a collector scans). */
    for (int i = 0; i <= kWorkers; i++) {
      if (!on_stack_of(g_threads[i], g_seen[i].sp)) {
        if (!bad_stack++) printf("thread %d: handler not on its stack\n", i);
      }
      if (!pthread_equal(g_seen[i].self, g_threads[i])) bad_self++;
      if (g_seen[i].index != i) bad_index++;
      if (g_seen[i].code != SI_TKILL || g_seen[i].pid != getpid()) bad_info++;
    }
    g_world_stopped = 0;
    for (int i = 0; i <= kWorkers; i++) pthread_kill(g_threads[i], SIGUSR2);
    for (int i = 0; i <= kWorkers; i++) sem_wait(&g_ack);
  }
  CHECK(bad_stack == 0, "each handler ran on its thread's stack", "%d of %d", bad_stack,
        kRounds * (kWorkers + 1));
  CHECK(bad_self == 0, "pthread_self in each handler is its thread", "%d", bad_self);
  CHECK(bad_index == 0, "each handler saw its thread's thread-locals", "%d", bad_index);
  CHECK(bad_info == 0, "each handler got pthread_kill's siginfo", "%d", bad_info);
  /* Let the world go (main releases the mutex once this thread ended). */
  g_done = 1;
  if (write(g_pipes[0][1], "r", 1) != 1 || write(g_pipes[1][1], "p", 1) != 1) g_failures++;
  pthread_mutex_lock(&g_cond_mutex);
  g_cond_done = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_cond_mutex);
  sem_post(&g_sem);
  return NULL;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_suspend;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_restart;
  sigaction(SIGUSR2, &sa, NULL);
  sem_init(&g_ack, 0, 0);
  sem_init(&g_sem, 0, 0);
  sem_init(&g_started, 0, 0);
  if (pipe(g_pipes[0]) || pipe(g_pipes[1])) return 2;
  t_index = kWorkers;
  g_threads[kWorkers] = pthread_self();
  pthread_mutex_lock(&g_mutex); /* the mutex worker waits for it */
  for (int i = 0; i < kWorkers; i++)
    if (pthread_create(&g_threads[i], NULL, worker, (void*)(intptr_t)i)) return 2;
  /* Signals go to threads that have begun their start routine (one sent
   * before runs its handler as the routine begins, before t_index is set). */
  for (int i = 0; i < kWorkers; i++) sem_wait(&g_started);
  tasks_sample();
  pthread_t c;
  pthread_create(&c, NULL, collector, NULL);
  pthread_join(c, NULL); /* main is suspended here too */
  pthread_mutex_unlock(&g_mutex);
  for (int i = 0; i < kWorkers; i++) {
    int r = pthread_join(g_threads[i], NULL);
    if (r)
      printf("FAIL join %s: %s\n", kNames[i], errname(r));
    else
      printf("%s thread: done\n", kNames[i]);
  }
  printf("rounds: %d\n", kRounds);
  return g_failures ? 1 : 0;
}
