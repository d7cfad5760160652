// SPDX-License-Identifier: MIT
/* A thread-per-connection HTTP/1.1 server with keep-alive, written the legacy
 * way: an accept loop, one detached pthread per connection (default
 * attributes), blocking read/write, a mutex-protected global request counter.
 * Every request gets the same fixed body. Used by scripts/bench with wrk,
 * natively and under the shim.
 *
 *   http_server [-a ADDR] [-p PORT] [-s BODY_BYTES] [-b BACKLOG]
 *
 *   -a ADDR        address to listen on (default 127.0.0.1)
 *   -p PORT        port (default 8080; 0 lets the kernel choose)
 *   -s BODY_BYTES  size of the response body (default 128)
 *   -b BACKLOG     listen backlog (default SOMAXCONN)
 *
 * Requests may be pipelined; a request body announced by Content-Length is
 * read and ignored; "Connection: close" (or HTTP/1.0 without keep-alive)
 * closes after the response. Prints "listening on ADDR:PORT" on stdout when
 * ready; SIGINT/SIGTERM prints the counters on stderr and exits 0.
 *
 * Build: cc -O2 -pthread http_server.c -o http_server
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADER 8192

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long connections;
static unsigned long long requests;

static char* response;    /* status line, headers and body */
static size_t response_len;

static const char bad_request[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Value of header `name` in the header block [h, end), or NULL. */
static const char* header(const char* h, const char* end, const char* name, size_t* vlen) {
  size_t nlen = strlen(name);
  const char* line = memchr(h, '\n', (size_t)(end - h)); /* skip the request line */
  while (line && line + 1 < end) {
    line++;
    const char* eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) break;
    if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
      const char* v = line + nlen + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char* ve = eol;
      while (ve > v && isspace((unsigned char)ve[-1])) ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    line = eol;
  }
  return NULL;
}

static void* client(void* arg) {
  int fd = (int)(intptr_t)arg;
  char buf[MAX_HEADER];
  size_t have = 0;
  for (;;) {
    /* Is there a complete header block in the buffer? */
    char* end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
    if (!end) {
      if (have == sizeof buf) {
        write_all(fd, bad_request, sizeof bad_request - 1);
        break;
      }
      ssize_t n = read(fd, buf + have, sizeof buf - have);
      if (n <= 0) break;
      have += (size_t)n;
      continue;
    }
    size_t head = (size_t)(end + 4 - buf);

    int keep_alive = memmem(buf, head, "HTTP/1.1\r\n", 10) != NULL;
    size_t vlen;
    const char* v = header(buf, end + 2, "Connection", &vlen);
    if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0) keep_alive = 0;
    if (v && vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0) keep_alive = 1;
    unsigned long long body = 0;
    v = header(buf, end + 2, "Content-Length", &vlen);
    if (v) body = strtoull(v, NULL, 10);

    /* Drop the header block and the request body. */
    memmove(buf, buf + head, have - head);
    have -= head;
    while (body > 0) {
      if (have == 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) goto out;
        have = (size_t)n;
      }
      size_t take = body < have ? (size_t)body : have;
      memmove(buf, buf + take, have - take);
      have -= take;
      body -= take;
    }

    if (write_all(fd, response, response_len) != 0) break;
    pthread_mutex_lock(&stats_lock);
    requests++;
    pthread_mutex_unlock(&stats_lock);
    if (!keep_alive) break;
  }
out:
  close(fd);
  return NULL;
}

static void on_signal(int sig) {
  char msg[128];
  /* snprintf is not async-signal-safe in general; the numbers are plain. */
  int n = snprintf(msg, sizeof msg, "http_server: connections=%llu requests=%llu\n",
                   connections, requests);
  write(2, msg, (size_t)n);
  _exit(0);
}

int main(int argc, char** argv) {
  const char* addr = "127.0.0.1";
  int port = 8080, backlog = SOMAXCONN, opt;
  long body_len = 128;
  while ((opt = getopt(argc, argv, "a:p:s:b:")) != -1) {
    switch (opt) {
      case 'a': addr = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 's': body_len = atol(optarg); break;
      case 'b': backlog = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-s BODY_BYTES] [-b BACKLOG]\n", argv[0]);
        return 2;
    }
  }
  if (body_len < 0 || body_len > (64L << 20)) {
    fprintf(stderr, "http_server: body size out of range\n");
    return 2;
  }

  char head[160];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %ld\r\n\r\n",
                    body_len);
  response_len = (size_t)hl + (size_t)body_len;
  response = malloc(response_len);
  memcpy(response, head, (size_t)hl);
  for (long i = 0; i < body_len; i++) response[hl + i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);

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
    fprintf(stderr, "http_server: bad address %s\n", addr);
    return 2;
  }
  if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(lfd, backlog) != 0) {
    perror("http_server: bind/listen");
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
      perror("http_server: accept");
      usleep(100000);
      continue;
    }
    pthread_mutex_lock(&stats_lock);
    connections++;
    pthread_mutex_unlock(&stats_lock);
    pthread_t t;
    int rc = pthread_create(&t, NULL, client, (void*)(intptr_t)fd);
    if (rc != 0) {
      fprintf(stderr, "http_server: pthread_create: %s\n", strerror(rc));
      close(fd);
      continue;
    }
    pthread_detach(t);
  }
}
