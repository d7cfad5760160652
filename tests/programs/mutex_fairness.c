// SPDX-License-Identifier: MIT
// Two threads lock a mutex again as soon as they unlock it; main wants it
// 100 times. Natively the kernel lets main in now and then; under the shim
// a waiter that keeps losing is handed the mutex (core/mutex.h). The hogs
// stop after 100,000 rounds, far more than main needs natively (a few
// thousand): main must have had its turns before that.
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define CAP 100000L
#define WANTS 100

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_done;
static atomic_long g_rounds;

static void* hog(void* arg) {
  (void)arg;
  while (!atomic_load(&g_done) && atomic_load(&g_rounds) < CAP) {
    pthread_mutex_lock(&g_mu);
    for (volatile int i = 0; i < 20000; i++) {
    }
    pthread_mutex_unlock(&g_mu);
    atomic_fetch_add(&g_rounds, 1);
  }
  return NULL;
}

int main(void) {
  test_start();
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&t[i], NULL, hog, NULL) != 0) return 2;
  usleep(20000);  // both hogs at it
  tasks_sample();
  for (int i = 0; i < WANTS; i++) {
    pthread_mutex_lock(&g_mu);
    pthread_mutex_unlock(&g_mu);
  }
  long rounds = atomic_load(&g_rounds);
  atomic_store(&g_done, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  CHECK(rounds < CAP, "main locked the mutex 100 times while two threads kept relocking it",
        "only after the hogs stopped (%ld rounds)", rounds);
  return test_end();
}
