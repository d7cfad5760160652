// SPDX-License-Identifier: MIT
/* prctl(PR_SET_NAME / PR_GET_NAME) names the calling thread alone, as the
 * kernel does for OS threads: four threads (on one carrier under the shim)
 * each set a name longer than 15 bytes, which is cut to 15, and each then
 * reads its own name back with PR_GET_NAME, pthread_getname_np and
 * /proc/self/task/<tid>/comm, after all four have set theirs (so that a
 * name kept per OS thread would show the last one set). main's name is left
 * alone; an unreadable pointer is EFAULT for both. */
#include "common.h"

#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define THREADS 4

static pthread_barrier_t g_all_named;
static char g_result[THREADS][160];
static int g_ok[THREADS];

static void* named(void* arg) {
  int i = (int)(intptr_t)arg;
  char want[64], got[16] = "", via_pthread[16] = "", via_proc[32] = "";
  snprintf(want, sizeof want, "worker-%d-with-a-long-name", i);
  int rc = prctl(PR_SET_NAME, want, 0, 0, 0);
  pthread_barrier_wait(&g_all_named);
  int rc2 = prctl(PR_GET_NAME, got, 0, 0, 0);
  pthread_getname_np(pthread_self(), via_pthread, sizeof via_pthread);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)gettid());
  FILE* f = fopen(path, "r");
  if (f) {
    if (!fgets(via_proc, sizeof via_proc, f)) via_proc[0] = 0;
    via_proc[strcspn(via_proc, "\n")] = 0;
    fclose(f);
  }
  want[15] = 0;
  pthread_barrier_wait(&g_all_named);
  tasks_sample();
  snprintf(g_result[i], sizeof g_result[i], "set=%d get=%d prctl=%s pthread=%s proc=%s want=%s", rc,
           rc2, got, via_pthread, via_proc, want);
  g_ok[i] = rc == 0 && rc2 == 0 && strcmp(got, want) == 0 && strcmp(via_pthread, want) == 0 &&
            strcmp(via_proc, want) == 0;
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  char before[16] = "", after[16] = "";
  prctl(PR_GET_NAME, before, 0, 0, 0);
  pthread_barrier_init(&g_all_named, NULL, THREADS);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, named, (void*)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++) {
    char label[64];
    snprintf(label, sizeof label, "thread %d: its own name, cut to 15 bytes", i);
    CHECK(g_ok[i], label, "%s", g_result[i]);
  }
  prctl(PR_GET_NAME, after, 0, 0, 0);
  CHECK(strcmp(before, after) == 0, "main's name unchanged", "before=%s after=%s", before, after);
  EXPECT_ERR("PR_SET_NAME of an unreadable string", prctl(PR_SET_NAME, BADPTR, 0, 0, 0), EFAULT);
  EXPECT_ERR("PR_GET_NAME into unwritable memory", prctl(PR_GET_NAME, BADPTR, 0, 0, 0), EFAULT);
  return g_failures ? 1 : 0;
}
