// SPDX-License-Identifier: MIT
/* Signal handlers read thread-specific data (pthread_getspecific) of the
 * thread they run as, while every thread of the program waits: uWSGI's
 * SIGHUP handler finds its request through a key. Under the shim such a
 * handler runs on a carrier with nothing to run, and must still see the
 * keys of the thread it runs for.
 *   1. Process-directed SIGHUP from a child process, taken by main in
 *      sigsuspend (every other thread blocks it) while the other threads
 *      wait in read: the handler sees main's value.
 *   2. pthread_kill(SIGUSR1) at each thread, parked in read: the handler
 *      sees that thread's value, and can set one that the thread sees. */
#include "common.h"

#include <semaphore.h>
#include <signal.h>
#include <sys/wait.h>

#define THREADS 3
#define ROUNDS 10

static pthread_key_t g_key;
static const char* volatile g_seen;
static sem_t g_handled;
static sem_t g_ready;
static int g_wake[2];
static char g_names[THREADS][16];

static void on_hup(int sig) {
  (void)sig;
  g_seen = pthread_getspecific(g_key);
}

static void on_usr1(int sig) {
  (void)sig;
  g_seen = pthread_getspecific(g_key);
  pthread_setspecific(g_key, "set in handler");
  sem_post(&g_handled);
}

static void* waiter(void* arg) {
  pthread_setspecific(g_key, arg);
  sem_post(&g_ready);
  char c;
  while (read(g_wake[0], &c, 1) < 0 && errno == EINTR) {
  }
  const char* v = pthread_getspecific(g_key);
  return (void*)(intptr_t)(v && strcmp(v, "set in handler") == 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_key_create(&g_key, NULL);
  pthread_setspecific(g_key, "main");
  sem_init(&g_handled, 0, 0);
  sem_init(&g_ready, 0, 0);
  if (pipe(g_wake) != 0) return 2;
  struct sigaction sa = {0};
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t hup, old;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, &old); /* the threads inherit it */
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    snprintf(g_names[i], sizeof g_names[i], "thread %d", i);
    pthread_create(&t[i], NULL, waiter, g_names[i]);
  }
  for (int i = 0; i < THREADS; i++)
    while (sem_wait(&g_ready) != 0) {
    }

  /* 1. A child sends SIGHUP and waits for main's answer each round. */
  int ack[2];
  if (pipe(ack) != 0) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    for (int i = 0; i < ROUNDS; i++) {
      kill(getppid(), SIGHUP);
      if (read(ack[0], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  int right = 0;
  for (int i = 0; i < ROUNDS; i++) {
    g_seen = NULL;
    sigsuspend(&old);
    if (g_seen && strcmp(g_seen, "main") == 0) right++;
    if (write(ack[1], "k", 1) != 1) return 2;
  }
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(right == ROUNDS, "SIGHUP handler while all wait: main's key", "%d of %d", right, ROUNDS);

  /* 2. A handler for each parked thread. */
  int mine = 0;
  for (int i = 0; i < THREADS; i++) {
    g_seen = NULL;
    pthread_kill(t[i], SIGUSR1);
    while (sem_wait(&g_handled) != 0) {
    }
    if (g_seen && strcmp(g_seen, g_names[i]) == 0) mine++;
  }
  CHECK(mine == THREADS, "pthread_kill at a parked thread: its key", "%d of %d", mine, THREADS);
  for (int i = 0; i < THREADS; i++)
    if (write(g_wake[1], "x", 1) != 1) return 2;
  int kept = 0;
  for (int i = 0; i < THREADS; i++) {
    void* r = NULL;
    pthread_join(t[i], &r);
    kept += (int)(intptr_t)r;
  }
  CHECK(kept == THREADS, "a key set in the handler is the thread's", "%d of %d", kept, THREADS);
  return g_failures ? 1 : 0;
}
