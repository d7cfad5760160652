// SPDX-License-Identifier: MIT
/* The process ends while threads are blocked: exit() called by a thread
 * (argument "thread", status 3) or main returning (argument "main", status
 * 4). atexit handlers run once and stdio is flushed; the blocked threads
 * simply vanish, as natively. */
#include "common.h"

#include <pthread.h>

static struct gate g_never;

static void* blocked(void* p) {
  gate_wait(&g_never); /* never opened */
  printf("not reached %ld\n", (long)(intptr_t)p);
  return NULL;
}

static void* exiter(void* p) {
  (void)p;
  usleep(20000);
  printf("a thread calls exit(3) while 4 threads are blocked\n");
  exit(3);
}

static void at_exit(void) { printf("atexit handler ran\n"); }

int main(int argc, char** argv) {
  test_start();
  atexit(at_exit);
  gate_init(&g_never);
  pthread_t t[4];
  for (intptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, blocked, (void*)i);
  tasks_sample();
  /* unflushed output must still appear */
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  printf("buffered line\n");
  if (argc > 1 && strcmp(argv[1], "main") == 0) {
    printf("main returns 4 while 4 threads are blocked\n");
    return 4;
  }
  pthread_t e;
  pthread_create(&e, NULL, exiter, NULL);
  pthread_join(e, NULL);
  printf("not reached\n");
  return 0;
}
