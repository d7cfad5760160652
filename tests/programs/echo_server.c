// SPDX-License-Identifier: MIT
/* A thread-per-connection TCP echo server, written the legacy way.
 *
 * The main thread accepts in a loop and starts one detached pthread per
 * client (default attributes, so glibc's default stack); the client's thread
 * echoes with blocking read/write until the peer closes, and counts the
 * requests it served in a global counter behind a mutex. Nothing here knows
 * about greenhouse: it is the program the product is for, and the macro
 * benchmark (scripts/bench, scripts/demo) runs it natively and under the shim.
 *
 *   echo_server [-a ADDR] [-p PORT] [-b BACKLOG] [-w USEC]
 *
 *   -a ADDR     address to listen on (default 127.0.0.1)
 *   -p PORT     port (default 7007; 0 lets the kernel choose)
 *   -b BACKLOG  listen backlog (default SOMAXCONN)
 *   -w USEC     CPU work per request: hashes the request for USEC
 *               microseconds before echoing it (default 0), to make a
 *               CPU-heavy server
 *
 * When it listens it prints "listening on ADDR:PORT" on stdout. It raises its
 * soft RLIMIT_NOFILE to the hard limit (one descriptor per client). SIGINT or
 * SIGTERM prints "echo_server: connections=C requests=R bytes=B" on stderr
 * and exits 0.
 *
 * Build: cc -O2 -pthread echo_server.c -o echo_server
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long connections; /* accepted so far */
static unsigned long long requests;    /* reads echoed back */
static unsigned long long bytes;       /* bytes echoed back */

static long work_usec; /* -w */
static volatile unsigned long long work_sink;

/* Hashes buf over and over for work_usec microseconds of wall time. */
static void work(const char* buf, ssize_t n) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long long h = 1469598103934665603ull;
  long long goal = work_usec * 1000;
  do {
    for (ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < goal);
  work_sink += h;
}

static void* client(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break; /* peer closed, or reset */
    if (work_usec > 0) work(buf, n);
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(fd, buf + off, n - off);
      if (w < 0) goto out;
      off += w;
    }
    pthread_mutex_lock(&stats_lock);
    requests++;
    bytes += n;
    pthread_mutex_unlock(&stats_lock);
  }
out:
  close(fd);
  return NULL;
}

static void put_num(char** p, unsigned long long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *(*p)++ = tmp[--n];
}

/* Prints the counters with write(2) only, so that it is safe in a handler. */
static void on_signal(int sig) {
  char msg[160], *p = msg;
  const char* parts[] = {"echo_server: connections=", " requests=", " bytes="};
  unsigned long long vals[] = {connections, requests, bytes};
  for (int i = 0; i < 3; i++) {
    for (const char* s = parts[i]; *s;) *p++ = *s++;
    put_num(&p, vals[i]);
  }
  *p++ = '\n';
  write(2, msg, p - msg);
  _exit(0);
}

int main(int argc, char** argv) {
  const char* addr = "127.0.0.1";
  int port = 7007, backlog = SOMAXCONN, opt;
  while ((opt = getopt(argc, argv, "a:p:b:w:")) != -1) {
    switch (opt) {
      case 'a': addr = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'b': backlog = atoi(optarg); break;
      case 'w': work_usec = atol(optarg); break;
      default:
        fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-b BACKLOG] [-w USEC]\n", argv[0]);
        return 2;
    }
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "echo_server: bad address %s\n", addr);
    return 2;
  }
  if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(lfd, backlog) != 0) {
    perror("echo_server: bind/listen");
    return 1;
  }
  socklen_t len = sizeof sa;
  getsockname(lfd, (struct sockaddr*)&sa, &len);
  printf("listening on %s:%d\n", addr, ntohs(sa.sin_port));
  fflush(stdout);

  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      perror("echo_server: accept");
      /* Out of descriptors or memory: wait for clients to leave. */
      usleep(100000);
      continue;
    }
    pthread_mutex_lock(&stats_lock);
    connections++;
    pthread_mutex_unlock(&stats_lock);
    pthread_t t;
    int rc = pthread_create(&t, NULL, client, (void*)(intptr_t)fd);
    if (rc != 0) {
      fprintf(stderr, "echo_server: pthread_create: %s\n", strerror(rc));
      close(fd);
      continue;
    }
    pthread_detach(t);
  }
}
