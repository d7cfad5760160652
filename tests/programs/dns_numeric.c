// SPDX-License-Identifier: MIT
/* getaddrinfo and getnameinfo on numbers alone (address literals, port
 * numbers, NI_NUMERICHOST | NI_NUMERICSERV) look nothing up: servers call
 * them on every request to parse addresses. Four threads each make 300
 * such calls while the others are about; the answers are right, and no
 * OS thread was needed for them (under the shim they run where they are
 * called, not on the offload pool: 20-500 us per call there). */
#include "common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>

#define THREADS 4
#define CALLS 300

static int one_round(int k) {
  static const char* const hosts[] = {"127.0.0.1", "::1", "10.1.2.3", "fe80::1"};
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = k % 3 == 0 ? AI_NUMERICHOST : k % 3 == 1 ? AI_NUMERICHOST | AI_NUMERICSERV : 0;
  const char* host = hosts[k % 4];
  if (getaddrinfo(host, "8080", &hints, &res) != 0 || !res) return 0;
  char h[64], s[16];
  int ok = getnameinfo(res->ai_addr, res->ai_addrlen, h, sizeof h, s, sizeof s,
                       NI_NUMERICHOST | NI_NUMERICSERV) == 0 &&
           strcmp(h, host) == 0 && strcmp(s, "8080") == 0;
  freeaddrinfo(res);
  return ok;
}

static void* caller(void* arg) {
  (void)arg;
  int ok = 0;
  tasks_sample();
  for (int k = 0; k < CALLS; k++) {
    ok += one_round(k);
    if (k % 50 == 0) sched_yield();
  }
  return (void*)(intptr_t)ok;
}

static int offload_threads(void) {
  DIR* d = opendir("/proc/self/task");
  int n = 0;
  struct dirent* de;
  while (d && (de = readdir(d)) != NULL) {
    char path[300], comm[32] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (read(fd, comm, sizeof comm - 1) > 0 && strncmp(comm, "gh-offload", 10) == 0) n++;
    close(fd);
  }
  if (d) closedir(d);
  return n;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, caller, NULL);
  int ok = 0;
  for (int i = 0; i < THREADS; i++) {
    void* v;
    pthread_join(t[i], &v);
    ok += (int)(intptr_t)v;
  }
  CHECK(ok == THREADS * CALLS, "numeric getaddrinfo and getnameinfo answers", "%d of %d right", ok,
        THREADS * CALLS);
  int n = offload_threads();
  CHECK(n == 0, "no OS thread was needed for them", "%d offload threads", n);
  return g_failures ? 1 : 0;
}
