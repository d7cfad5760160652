// SPDX-License-Identifier: MIT
/* pthread_attr_setstack: the thread runs on the memory the program gave it
 * (programs that place thread stacks themselves rely on it, e.g. to size
 * them exactly or to inspect them). */
#include "common.h"

#include <pthread.h>

#define SIZE (1u << 20)
static char* g_stack;
static struct gate g_hold;

static void* on_stack(void* p) {
  char here;
  int inside = &here >= g_stack && &here < g_stack + SIZE;
  gate_wait(&g_hold);
  return (void*)(intptr_t)inside;
}

int main(void) {
  test_start();
  g_stack = (char*)aligned_alloc(4096, SIZE);
  pthread_attr_t a;
  pthread_attr_init(&a);
  EXPECT_RC("pthread_attr_setstack 1 MiB", pthread_attr_setstack(&a, g_stack, SIZE), 0);
  void* addr = NULL;
  size_t size = 0;
  pthread_attr_getstack(&a, &addr, &size);
  CHECK(addr == g_stack && size == SIZE, "pthread_attr_getstack returns it", "%p %zu", addr, size);
  gate_init(&g_hold);
  pthread_t t;
  EXPECT_RC("pthread_create with it", pthread_create(&t, &a, on_stack, NULL), 0);
  tasks_sample();
  gate_open(&g_hold, 1);
  void* v = NULL;
  pthread_join(t, &v);
  CHECK(v == (void*)1, "the thread ran on the given stack", "it did not");
  pthread_attr_destroy(&a);
  free(g_stack);
  return test_end();
}
