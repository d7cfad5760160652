// SPDX-License-Identifier: MIT
/* Two threads that raise themselves to SCHED_FIFO around a mutex (stress-ng's
 * mutex stressor): high priority to lock, priority 1 while holding, a
 * sched_yield inside. Natively the kernel runs the holder whenever the
 * other sleeps on the mutex. Under the shim their priorities are their
 * carriers' (two of them, on one CPU): a carrier switching to a thread the
 * other carrier still held spun with sched_yield, which at real-time
 * priority never lets the lower-priority holder run, and the process hung.
 *
 * The program pins itself to one CPU and runs itself again (the shim starts
 * its carriers on the CPUs a process has at start-up; the test runs it with
 * GREENHOUSE_CARRIERS=2). Without the right to SCHED_FIFO it says so, natively
 * and under the shim alike. */
#include "common.h"

#include <sched.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t g_stop;
static long g_rounds[2];

static void on_alarm(int sig) {
  (void)sig;
  g_stop = 1;
}

static void* worker(void* arg) {
  long id = (long)arg;
  unsigned seed = (unsigned)id + 1;
  while (!g_stop) {
    struct sched_param p = {.sched_priority = 2 + (int)(rand_r(&seed) % 80)};
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    pthread_mutex_lock(&g_lock);
    p.sched_priority = 1;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    sched_yield();
    g_rounds[id]++;
    pthread_mutex_unlock(&g_lock);
  }
  struct sched_param p = {.sched_priority = 0};
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
  return NULL;
}

int main(int argc, char** argv) {
  (void)argc;
  setvbuf(stdout, NULL, _IONBF, 0);
  if (!getenv("GH_FIFO_PINNED")) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 2;
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) cpu++;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) return 2;
    setenv("GH_FIFO_PINNED", "1", 1);
    execv("/proc/self/exe", argv);
    return 2;
  }
  struct sched_param p = {.sched_priority = 1};
  int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
  if (rc != 0) {
    printf("SCHED_FIFO: %s (nothing to test)\n", strerror(rc));
    return 0;
  }
  p.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
  signal(SIGALRM, on_alarm);
  pthread_t t[2];
  for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void*)i);
  ualarm(300000, 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  /* Which of them gets the CPU is the scheduler's business (natively one
   * may starve the other): what counts is that they went round and ended. */
  CHECK(g_rounds[0] + g_rounds[1] > 0, "the threads locked and unlocked until the alarm, and ended",
        "no round");
  return g_failures ? 1 : 0;
}
