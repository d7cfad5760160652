// SPDX-License-Identifier: MIT
/* Thousands of threads hand work to each other through mutexes, condition
 * variables and semaphores: under the shim they run on every carrier and
 * move between them, so every hand-off may cross OS threads. The counts
 * must come out exact. */
#include "common.h"

#include <pthread.h>
#include <semaphore.h>

#define PAIRS 1000
#define ROUNDS 50
#define RING 500
#define LAPS 20

struct pair {
  pthread_mutex_t m;
  pthread_cond_t cv;
  int turn;  /* 0: ping's, 1: pong's */
  int exchanges;
};

static struct pair g_pairs[PAIRS];
static pthread_mutex_t g_total_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_total;

static void play(struct pair* p, int me) {
  for (int r = 0; r < ROUNDS; r++) {
    pthread_mutex_lock(&p->m);
    while (p->turn != me) pthread_cond_wait(&p->cv, &p->m);
    p->exchanges++;
    p->turn = !me;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->m);
    pthread_mutex_lock(&g_total_lock);
    g_total++;
    pthread_mutex_unlock(&g_total_lock);
  }
}

static void* ping(void* arg) {
  play((struct pair*)arg, 0);
  return NULL;
}
static void* pong(void* arg) {
  play((struct pair*)arg, 1);
  return NULL;
}

static sem_t g_sems[RING];
static long g_passes[RING];

static void* ring_member(void* arg) {
  int i = (int)(intptr_t)arg;
  for (int lap = 0; lap < LAPS; lap++) {
    sem_wait(&g_sems[i]);
    g_passes[i]++;
    sem_post(&g_sems[(i + 1) % RING]);
  }
  return NULL;
}

int main(void) {
  test_start();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);

  static pthread_t t[2 * PAIRS];
  for (int i = 0; i < PAIRS; i++) {
    pthread_mutex_init(&g_pairs[i].m, NULL);
    pthread_cond_init(&g_pairs[i].cv, NULL);
  }
  for (int i = 0; i < PAIRS; i++) {
    if (pthread_create(&t[2 * i], &attr, ping, &g_pairs[i]) != 0 ||
        pthread_create(&t[2 * i + 1], &attr, pong, &g_pairs[i]) != 0) {
      printf("pthread_create failed\n");
      return 2;
    }
  }
  tasks_sample();
  for (int i = 0; i < 2 * PAIRS; i++) pthread_join(t[i], NULL);
  int exact = 1;
  for (int i = 0; i < PAIRS; i++)
    if (g_pairs[i].exchanges != 2 * ROUNDS) exact = 0;
  printf("mutex+condvar ping-pong: %d pairs x %d rounds, every pair exact: %s, total %ld\n", PAIRS,
         ROUNDS, exact ? "yes" : "NO", g_total);
  if (!exact || g_total != 2L * PAIRS * ROUNDS) g_failures++;

  for (int i = 0; i < RING; i++) sem_init(&g_sems[i], 0, 0);
  for (int i = 0; i < RING; i++) pthread_create(&t[i], &attr, ring_member, (void*)(intptr_t)i);
  sem_post(&g_sems[0]);  /* the token */
  for (int i = 0; i < RING; i++) pthread_join(t[i], NULL);
  long passes = 0;
  for (int i = 0; i < RING; i++) passes += g_passes[i];
  printf("semaphore ring: %d threads x %d laps, passes %ld\n", RING, LAPS, passes);
  if (passes != (long)RING * LAPS) g_failures++;
  return test_end();
}
