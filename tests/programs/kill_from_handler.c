// SPDX-License-Identifier: MIT
/* pthread_kill from inside a signal handler whose mask blocks the signal it
 * sends reaches each target: main (blocked in pthread_join) and another
 * thread (in pthread_cond_wait) both run their handlers while the sender's
 * handler waits for them. (SBCL's stop-the-world sends its stop signal to
 * every thread from its allocation-trap handler: under the shim the one for
 * main went through glibc to the carrier's OS thread, where the handler's
 * mask held it, merged there with the other thread's, and main never
 * stopped: the collector waited for ever.) */
#include "common.h"

#include <semaphore.h>

static pthread_t g_main, g_other;
static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_c = PTHREAD_COND_INITIALIZER;
static int g_done;
static sem_t g_ack;
static volatile sig_atomic_t g_main_ran, g_other_ran, g_acks;

static void on_usr2(int sig) {
  (void)sig;
  if (pthread_equal(pthread_self(), g_main))
    g_main_ran++;
  else if (pthread_equal(pthread_self(), g_other))
    g_other_ran++;
  sem_post(&g_ack);
}

static void on_usr1(int sig) {
  (void)sig;
  pthread_kill(g_main, SIGUSR2);
  pthread_kill(g_other, SIGUSR2);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 20;
  for (int i = 0; i < 2; i++)
    if (sem_timedwait(&g_ack, &ts) == 0) g_acks++;
}

static void* other(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_m);
  while (!g_done) pthread_cond_wait(&g_c, &g_m);
  pthread_mutex_unlock(&g_m);
  return NULL;
}

static void* sender(void* arg) {
  (void)arg;
  tasks_sample();
  raise(SIGUSR1); /* its handler blocks SIGUSR2 (sa_mask) */
  pthread_mutex_lock(&g_m);
  g_done = 1;
  pthread_cond_broadcast(&g_c);
  pthread_mutex_unlock(&g_m);
  return NULL;
}

int main(void) {
  sem_init(&g_ack, 0, 0);
  g_main = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaddset(&sa.sa_mask, SIGUSR2);
  sigaction(SIGUSR1, &sa, NULL);
  pthread_create(&g_other, NULL, other, NULL);
  pthread_t s;
  pthread_create(&s, NULL, sender, NULL);
  pthread_join(s, NULL);
  pthread_join(g_other, NULL);
  CHECK(g_acks == 2, "both handlers ran while the sender's waited", "%d", (int)g_acks);
  CHECK(g_main_ran == 1 && g_other_ran == 1, "each ran as its own thread", "main %d other %d",
        (int)g_main_ran, (int)g_other_ran);
  return g_failures ? 1 : 0;
}
