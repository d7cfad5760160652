// SPDX-License-Identifier: MIT
/* Once a program has made a thread, glibc must see it as multi-threaded in
 * every thread: its SINGLE_THREAD_P test (the TCB's header.multiple_threads
 * at %fs:24 on x86-64, and __libc_single_threaded) decides whether malloc,
 * stdio and others take their locks. A thread that still says "single"
 * while an OS thread of the process (the shim's offload pool, a library's
 * helper) allocates would corrupt the heap. Checked in main and in threads
 * created before and after a getaddrinfo (which the shim runs on an OS
 * thread), and with malloc running in all of them while getaddrinfo runs. */
#include "common.h"

#include <netdb.h>
#include <pthread.h>
#include <sys/single_threaded.h>

static int multiple_threads_flag(void) {
  int v;
  __asm__ volatile("movl %%fs:24, %0" : "=r"(v));
  return v;
}

static void* report(void* arg) {
  const char* who = arg;
  printf("%s: multiple_threads %d, __libc_single_threaded %d\n", who, multiple_threads_flag(),
         (int)__libc_single_threaded);
  return NULL;
}

// The workers start together once main has counted the OS threads (one
// that had already ended would not be counted).
static struct gate g_start;

static void* churn(void* arg) {
  (void)arg;
  gate_wait(&g_start);
  for (int i = 0; i < 20000; i++) {
    void* p = malloc((size_t)(i % 512) + 1);
    if (!p) g_failures++;
    free(p);
  }
  return NULL;
}

static void* lookups(void* arg) {
  (void)arg;
  gate_wait(&g_start);
  for (int i = 0; i < 50; i++) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    if (getaddrinfo("localhost", "80", &hints, &res) == 0) freeaddrinfo(res);
    else g_failures++;
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, report, "first thread");
  pthread_join(t, NULL);
  report("main after its first thread");
  pthread_t ts[9];
  gate_init(&g_start);
  for (int i = 0; i < 8; i++) pthread_create(&ts[i], NULL, churn, NULL);
  pthread_create(&ts[8], NULL, lookups, NULL);
  tasks_sample();
  gate_open(&g_start, 9);
  for (int i = 0; i < 9; i++) pthread_join(ts[i], NULL);
  pthread_create(&t, NULL, report, "thread after the lookups");
  pthread_join(t, NULL);
  report("main at the end");
  printf("failures: %d\n", g_failures);
  return g_failures ? 1 : 0;
}
