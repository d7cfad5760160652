// SPDX-License-Identifier: MIT
/* A thread pool as event-loop servers build one (nginx's `aio threads`),
 * shared by tests/programs/eventfd.c and tests/bench/macro/pool_notify.c.
 * The main thread posts tasks through a mutex and a condition variable;
 * a pool thread computes task->output from task->input, puts the task on
 * the done list, then calls the notify function (which writes to whatever
 * the main thread waits on). Single-use: np_start, np_post/np_take_done,
 * np_stop.
 */
#ifndef GH_TEST_NOTIFY_POOL_H
#define GH_TEST_NOTIFY_POOL_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

struct np_task {
  uint64_t input, output;
  struct np_task* next;
};

static pthread_mutex_t np_qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t np_qcond = PTHREAD_COND_INITIALIZER;
static struct np_task* np_queue; /* posted, under np_qlock */
static int np_stopping;          /* under np_qlock */
static pthread_mutex_t np_dlock = PTHREAD_MUTEX_INITIALIZER;
static struct np_task* np_done; /* finished, under np_dlock */
static void (*np_notify)(void);
static pthread_t* np_threads;
static int np_nthreads;

static inline uint64_t np_work(uint64_t input) { return input * 0x9E3779B97F4A7C15ull; }

static void* np_worker(void* unused) {
  (void)unused;
  for (;;) {
    pthread_mutex_lock(&np_qlock);
    while (!np_queue && !np_stopping) pthread_cond_wait(&np_qcond, &np_qlock);
    struct np_task* t = np_queue;
    if (t) np_queue = t->next;
    pthread_mutex_unlock(&np_qlock);
    if (!t) return NULL;
    t->output = np_work(t->input);
    pthread_mutex_lock(&np_dlock);
    t->next = np_done;
    np_done = t;
    pthread_mutex_unlock(&np_dlock);
    np_notify();
  }
}

static inline void np_start(int workers, void (*notify)(void)) {
  np_notify = notify;
  np_nthreads = workers;
  np_threads = (pthread_t*)calloc((size_t)workers, sizeof *np_threads);
  for (int i = 0; i < workers; i++) pthread_create(&np_threads[i], NULL, np_worker, NULL);
}

static inline void np_post(struct np_task* t) {
  pthread_mutex_lock(&np_qlock);
  t->next = np_queue;
  np_queue = t;
  pthread_cond_signal(&np_qcond);
  pthread_mutex_unlock(&np_qlock);
}

/* The finished tasks (a list through ->next), or NULL. */
static inline struct np_task* np_take_done(void) {
  pthread_mutex_lock(&np_dlock);
  struct np_task* d = np_done;
  np_done = NULL;
  pthread_mutex_unlock(&np_dlock);
  return d;
}

/* Ends and joins the pool threads once the queue is empty. */
static inline void np_stop(void) {
  pthread_mutex_lock(&np_qlock);
  np_stopping = 1;
  pthread_cond_broadcast(&np_qcond);
  pthread_mutex_unlock(&np_qlock);
  for (int i = 0; i < np_nthreads; i++) pthread_join(np_threads[i], NULL);
  free(np_threads);
}

#endif
