// SPDX-License-Identifier: MIT
// A C++ catch (...) that swallows a cancellation (does not rethrow) is
// fatal, as glibc makes it: "FATAL: exception not rethrown" on stderr and
// abort(). Exit status: SIGABRT both natively and under the shim.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace {
std::atomic<bool> g_ready{false};
int g_pipe[2];

void* swallows(void*) {
  try {
    g_ready = true;
    char c;
    (void)!read(g_pipe[0], &c, 1);
  } catch (...) {
    std::printf("caught the cancellation\n");
    std::fflush(stdout);
    // no rethrow
  }
  std::printf("FAIL: went on after swallowing it\n");
  return nullptr;
}
}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (pipe(g_pipe) != 0) return 2;
  int keep[2];
  if (pipe(keep) != 0) return 2;
  pthread_t t;
  pthread_create(&t, nullptr, swallows, nullptr);
  while (!g_ready) sched_yield();
  pthread_cancel(t);
  pthread_join(t, nullptr);
  std::printf("FAIL: the process lived on\n");
  return 1;
}
