// SPDX-License-Identifier: MIT
// Robust and priority-inheritance mutexes keep glibc's implementation under
// the shim, which stores the owner's thread id (struct pthread's tid) in the
// lock word and reads bit 30 of it as "owner died": a thread locks and
// unlocks each kind, then main takes it. (A green thread's id once had bit
// 30 set: unlock gave EPERM and the next lock EOWNERDEAD, or an abort.)
#include "common.h"

#include <pthread.h>

static pthread_mutex_t g_m;

static void* use(void* arg) {
  const char* kind = arg;
  tasks_sample();
  char label[96];
  snprintf(label, sizeof label, "%s: lock in a thread", kind);
  EXPECT_RC(label, pthread_mutex_lock(&g_m), 0);
  snprintf(label, sizeof label, "%s: relock by its owner (errorcheck)", kind);
  EXPECT_RC(label, pthread_mutex_lock(&g_m), EDEADLK);
  snprintf(label, sizeof label, "%s: unlock by its owner", kind);
  EXPECT_RC(label, pthread_mutex_unlock(&g_m), 0);
  snprintf(label, sizeof label, "%s: unlock when not held", kind);
  EXPECT_RC(label, pthread_mutex_unlock(&g_m), EPERM);
  return NULL;
}

static void check(const char* kind, int robust, int protocol) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  if (robust) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_setprotocol(&a, protocol);
  if (pthread_mutex_init(&g_m, &a) != 0) {
    printf("%s: init failed\n", kind);
    g_failures++;
    return;
  }
  pthread_t t;
  pthread_create(&t, NULL, use, (void*)kind);
  pthread_join(t, NULL);
  char label[96];
  snprintf(label, sizeof label, "%s: main takes it afterwards", kind);
  EXPECT_RC(label, pthread_mutex_trylock(&g_m), 0);
  snprintf(label, sizeof label, "%s: main unlocks it", kind);
  EXPECT_RC(label, pthread_mutex_unlock(&g_m), 0);
  pthread_mutex_destroy(&g_m);
  pthread_mutexattr_destroy(&a);
}

int main(void) {
  test_start();
  check("robust", 1, PTHREAD_PRIO_NONE);
  check("priority-inheritance", 0, PTHREAD_PRIO_INHERIT);
  check("robust priority-inheritance", 1, PTHREAD_PRIO_INHERIT);
  return test_end();
}
