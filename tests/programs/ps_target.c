// SPDX-License-Identifier: MIT
/* Threads blocked in known places, for tests/integration/settings/ps.sh
 * (`greenhouse ps PID`, the dump signal): each is named (pthread_setname_np)
 * and waits in a function of its own, so that a backtrace names it:
 *
 *   reader     read() on a pipe nobody writes        in_read
 *   locker     pthread_mutex_lock of a held mutex    in_mutex
 *   sleeper    nanosleep for an hour                 in_sleep
 *   waiter     pthread_cond_wait                     in_cond
 *   main       pthread_join of the reader            (main)
 *
 * Once they are all started it writes its pid to the file named by argv[1]
 * (atomically: FILE.tmp, rename) and waits; the test kills it.
 *
 * `ps_target FILE deadlock`: two threads, "left" and "right", take two
 * mutexes in opposite orders and deadlock; main joins "left".
 *
 * `ps_target FILE hog`: a thread "spinner" computes for 2 s in spin_for()
 * without a system call; main joins it and exits 0.
 *
 * `ps_target FILE timer`: a thread waits on a condition variable that a
 * POSIX timer's notification thread (SIGEV_THREAD: glibc starts it itself,
 * not through pthread_create) signals twice, 2.5 s apart (longer than the
 * deadlock check needs to see all threads still); not a deadlock, though
 * every green thread waits on synchronisation meanwhile. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_pipe[2];
static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_c = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t g_started;

__attribute__((noinline)) void in_read(void) {
  char c;
  pthread_barrier_wait(&g_started);
  if (read(g_pipe[0], &c, 1) < 0) perror("read");
  __asm__ volatile("" ::: "memory");  /* not a tail call: the frame stays */
}
__attribute__((noinline)) void in_mutex(void) {
  pthread_barrier_wait(&g_started);
  pthread_mutex_lock(&g_held);
  pthread_mutex_unlock(&g_held);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void in_sleep(void) {
  pthread_barrier_wait(&g_started);
  struct timespec ts = {3600, 0};
  nanosleep(&ts, NULL);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void in_cond(void) {
  pthread_mutex_lock(&g_m);
  pthread_barrier_wait(&g_started);
  pthread_cond_wait(&g_c, &g_m);
  pthread_mutex_unlock(&g_m);
  __asm__ volatile("" ::: "memory");
}

static pthread_mutex_t g_a = PTHREAD_MUTEX_INITIALIZER, g_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_both;

__attribute__((noinline)) void take_in_order(pthread_mutex_t* first, pthread_mutex_t* second) {
  pthread_mutex_lock(first);
  pthread_barrier_wait(&g_both); /* each holds its first: the second cannot be had */
  pthread_mutex_lock(second);
  __asm__ volatile("" ::: "memory");
}
static void* left(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "left");
  take_in_order(&g_a, &g_b);
  return NULL;
}
static void* right(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "right");
  take_in_order(&g_b, &g_a);
  return NULL;
}

__attribute__((noinline)) unsigned long spin_for(double seconds) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0); /* the vDSO: no system call */
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 100000; i++) n += (unsigned long)i;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
  return n;
}
static void* spinner(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "spinner");
  spin_for(2.0);
  return NULL;
}

static int g_fired;
static void on_timer(union sigval v) {
  (void)v;
  pthread_mutex_lock(&g_m);
  g_fired++;
  pthread_cond_signal(&g_c);
  pthread_mutex_unlock(&g_m);
}
static void* timed_waiter(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "timed");
  pthread_mutex_lock(&g_m);
  while (g_fired < 2) pthread_cond_wait(&g_c, &g_m);
  pthread_mutex_unlock(&g_m);
  return NULL;
}

static int write_pid(const char* path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (!f) return 2;
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  return rename(tmp, path) != 0 ? 2 : 0;
}

static void* run(void* arg) {
  const char* what = arg;
  pthread_setname_np(pthread_self(), what);
  switch (what[0]) {
    case 'r': in_read(); break;
    case 'l': in_mutex(); break;
    case 's': in_sleep(); break;
    case 'w': in_cond(); break;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[2], "deadlock") == 0) {
    pthread_barrier_init(&g_both, NULL, 2);
    pthread_t l, r;
    pthread_create(&l, NULL, left, NULL);
    pthread_create(&r, NULL, right, NULL);
    if (write_pid(argv[1])) return 2;
    pthread_join(l, NULL);
    return 0;
  }
  if (argc == 3 && strcmp(argv[2], "timer") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, timed_waiter, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_timer};
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) return 2;
    struct itimerspec its = {{2, 500000000}, {2, 500000000}};
    if (timer_settime(timer, 0, &its, NULL) != 0) return 2;
    if (write_pid(argv[1])) return 2;
    pthread_join(t, NULL);
    printf("timer fired %d times\n", g_fired);
    return 0;
  }
  if (argc == 3 && strcmp(argv[2], "hog") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    if (write_pid(argv[1])) return 2;
    pthread_join(t, NULL);
    return 0;
  }
  if (argc != 2 || pipe(g_pipe) != 0) return 2;
  pthread_mutex_lock(&g_held);
  pthread_barrier_init(&g_started, NULL, 5);
  static const char* names[] = {"reader", "locker", "sleeper", "waiter"};
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, run, (void*)names[i]);
  pthread_barrier_wait(&g_started);
  if (write_pid(argv[1])) return 2;
  pthread_join(t[0], NULL);
  return 0;
}
