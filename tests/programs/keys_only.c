// SPDX-License-Identifier: MIT
/* A single-threaded program that uses thread keys, names and attributes
 * but never creates a thread or blocks: what such a program gets must not
 * depend on whether the runtime could start (no carrier is needed). */
#include "common.h"

#include <pthread.h>

static int g_destructed;
static void destructor(void* p) { g_destructed += p != NULL; }

int main(void) {
  test_start();
  pthread_key_t k1, k2;
  CHECK(pthread_key_create(&k1, destructor) == 0 && pthread_key_create(&k2, NULL) == 0,
        "pthread_key_create", "failed");
  CHECK(pthread_getspecific(k1) == NULL, "a new key reads NULL", "not NULL");
  int v = 42;
  CHECK(pthread_setspecific(k1, &v) == 0 && pthread_getspecific(k1) == &v,
        "pthread_setspecific/getspecific", "lost");
  CHECK(pthread_setspecific(k2, "x") == 0, "a second key", "failed");
  CHECK(pthread_key_delete(k2) == 0, "pthread_key_delete", "failed");
  CHECK(pthread_setname_np(pthread_self(), "keys-main") == 0, "pthread_setname_np", "failed");
  char name[16] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  printf("name: %s\n", name);
  pthread_attr_t a;
  size_t stack = 0;
  CHECK(pthread_getattr_np(pthread_self(), &a) == 0 && pthread_attr_getstacksize(&a, &stack) == 0 &&
            stack > 0,
        "pthread_getattr_np on main", "stack %zu", stack);
  pthread_attr_destroy(&a);
  pthread_attr_init(&a);
  CHECK(pthread_attr_setstacksize(&a, 1 << 20) == 0 &&
            pthread_attr_getstacksize(&a, &stack) == 0 && stack == 1 << 20,
        "pthread_attr_setstacksize", "%zu", stack);
  pthread_attr_destroy(&a);
  pthread_setspecific(k1, NULL);
  CHECK(g_destructed == 0, "no destructor for a cleared key", "%d", g_destructed);
  return test_end();
}
