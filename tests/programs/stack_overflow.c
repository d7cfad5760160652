// SPDX-License-Identifier: MIT
/* A thread named "deep" recurses until its stack overflows.
 *   stack_overflow plain KIB    stack of KIB KiB (0: default attributes);
 *                               dies of SIGSEGV
 *   stack_overflow handler KIB  the thread first installs its own SIGSEGV
 *                               handler on its own alternate stack, which
 *                               says so and exits with status 3
 * Run by tests/integration/settings/stack_overflow.sh natively and under
 * the shim (not a differential test: the shim adds its report on stderr). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((noinline)) int recurse(int n) {
  volatile char frame[512];
  memset((char*)frame, n, sizeof frame);
  return recurse(n + 1) + frame[n % 512];
}

static void on_segv(int sig) {
  (void)sig;
  static const char msg[] = "the program's SIGSEGV handler ran\n";
  if (write(1, msg, sizeof msg - 1) < 0) _exit(4);
  _exit(3);
}

static int g_own_handler;

static void* run(void* p) {
  (void)p;
  pthread_setname_np(pthread_self(), "deep");
  if (g_own_handler) {
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
  }
  printf("%d\n", recurse(0));
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: stack_overflow plain|handler KIB\n");
    return 2;
  }
  g_own_handler = strcmp(argv[1], "handler") == 0;
  size_t kib = strtoul(argv[2], NULL, 10);
  setvbuf(stdout, NULL, _IONBF, 0);
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (kib) pthread_attr_setstacksize(&a, kib * 1024);
  pthread_t t;
  if (pthread_create(&t, &a, run, NULL) != 0) return 2;
  pthread_join(t, NULL);
  return 0;
}
