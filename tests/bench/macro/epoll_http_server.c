// SPDX-License-Identifier: MIT
/* The event-driven reference for the HTTP benchmark: the same responses as
 * tests/programs/http_server.c (HTTP/1.1 keep-alive, a fixed body), written
 * the way people rewrite such a server when threads get too expensive: one
 * thread, non-blocking sockets, one level-triggered epoll set, per connection
 * an input buffer (requests may arrive in pieces or pipelined) and the output
 * the socket would not take yet.
 *
 *   epoll_http_server [-a ADDR] [-p PORT] [-s BODY_BYTES] [-b BACKLOG]
 *
 * Requests: the header block up to an empty line; a body announced by
 * Content-Length is skipped; "Connection: close" (or HTTP/1.0 without
 * keep-alive) closes after the response. Prints "listening on ADDR:PORT" on
 * stdout when ready; SIGINT/SIGTERM prints
 * "epoll_http_server: connections=C requests=R" on stderr and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX 8192

struct conn {
  int fd;
  size_t have;                /* bytes in in[] */
  unsigned long long skip;    /* request body bytes still to drop */
  int close_after;            /* close once out[] is written */
  char* out;                  /* unwritten responses, allocated when a write falls short */
  size_t out_off, out_len, out_cap;
  char in[IN_MAX];
};

static unsigned long long connections, requests;
static volatile sig_atomic_t stop;
static char* response;
static size_t response_len;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* The value of header `name` in [buf, end), or NULL; its length in *len. */
static const char* header(const char* buf, const char* end, const char* name, size_t* len) {
  size_t nl = strlen(name);
  for (const char* p = buf; p < end;) {
    const char* eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) eol = end;
    if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char* v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      *len = (size_t)(eol - v);
      return v;
    }
    p = eol + 2;
  }
  return NULL;
}

static void drop(int ep, struct conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->out);
  free(c);
}

static void watch(int ep, struct conn* c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queues one response: straight to the socket, the rest kept in out[].
 * Returns -1 when the connection is dead. */
static int respond(struct conn* c) {
  size_t off = 0;
  if (c->out_len == 0) {
    while (off < response_len) {
      ssize_t w = send(c->fd, response + off, response_len - off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return -1;
      }
      off += (size_t)w;
    }
    if (off == response_len) return 0;
  }
  size_t rest = response_len - off;
  if (c->out_off + c->out_len + rest > c->out_cap) {
    memmove(c->out, c->out + c->out_off, c->out_len);
    c->out_off = 0;
    if (c->out_len + rest > c->out_cap) {
      size_t cap = (c->out_len + rest) * 2;
      char* p = realloc(c->out, cap);
      if (!p) return -1;
      c->out = p;
      c->out_cap = cap;
    }
  }
  memcpy(c->out + c->out_off + c->out_len, response + off, rest);
  c->out_len += rest;
  return 0;
}

/* Answers every complete request in in[]. Returns -1 to close. */
static int handle(struct conn* c) {
  for (;;) {
    if (c->skip > 0) {
      size_t take = c->skip < c->have ? (size_t)c->skip : c->have;
      memmove(c->in, c->in + take, c->have - take);
      c->have -= take;
      c->skip -= take;
      if (c->skip > 0) return 0;
    }
    char* end = memmem(c->in, c->have, "\r\n\r\n", 4);
    if (!end) return c->have == IN_MAX ? -1 : 0; /* a header block too large */
    size_t head = (size_t)(end + 4 - c->in);
    int keep_alive = memmem(c->in, head, "HTTP/1.1\r\n", 10) != NULL;
    size_t vlen;
    const char* v = header(c->in, end + 2, "Connection", &vlen);
    if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0) keep_alive = 0;
    if (v && vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0) keep_alive = 1;
    v = header(c->in, end + 2, "Content-Length", &vlen);
    c->skip = v ? strtoull(v, NULL, 10) : 0;
    memmove(c->in, c->in + head, c->have - head);
    c->have -= head;
    if (respond(c) != 0) return -1;
    requests++;
    if (!keep_alive) {
      c->close_after = 1;
      return 0;
    }
  }
}

/* Writes what is pending. Returns -1 when the connection is done. */
static int flush_out(int ep, struct conn* c) {
  while (c->out_len > 0) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    c->out_off += (size_t)w;
    c->out_len -= (size_t)w;
  }
  c->out_off = 0;
  if (c->close_after) return -1;
  watch(ep, c, EPOLLIN);
  return 0;
}

static int on_readable(int ep, struct conn* c) {
  ssize_t n = recv(c->fd, c->in + c->have, IN_MAX - c->have, 0);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  c->have += (size_t)n;
  if (handle(c) != 0) return -1;
  if (c->out_len > 0) {
    /* The peer is slow: stop reading until it has taken the responses. */
    watch(ep, c, EPOLLOUT);
    return 0;
  }
  return c->close_after ? -1 : 0;
}

static int listener(const char* addr, int port, int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "epoll_http_server: bad address %s\n", addr);
    exit(2);
  }
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0) {
    perror("epoll_http_server: bind/listen");
    exit(1);
  }
  return fd;
}

int main(int argc, char** argv) {
  const char* addr = "127.0.0.1";
  int port = 8080, backlog = SOMAXCONN;
  long body = 128;
  int opt;
  while ((opt = getopt(argc, argv, "a:p:s:b:")) != -1) {
    switch (opt) {
      case 'a': addr = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 's': body = atol(optarg); break;
      case 'b': backlog = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: epoll_http_server [-a ADDR] [-p PORT] [-s BODY_BYTES] [-b BACKLOG]\n");
        return 2;
    }
  }
  if (body < 0 || body > (1 << 20)) {
    fprintf(stderr, "epoll_http_server: body size out of range\n");
    return 2;
  }
  char head[128];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %ld\r\n\r\n",
                    body);
  response_len = (size_t)hl + (size_t)body;
  response = malloc(response_len);
  if (!response) return 1;
  memcpy(response, head, (size_t)hl);
  for (long i = 0; i < body; i++) /* as http_server's */
    response[hl + i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int lfd = listener(addr, port, backlog);
  struct sockaddr_in bound;
  socklen_t bl = sizeof bound;
  getsockname(lfd, (struct sockaddr*)&bound, &bl);
  printf("listening on %s:%d\n", addr, ntohs(bound.sin_port));
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the listener */
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  static struct epoll_event events[1024];
  while (!stop) {
    int n = epoll_wait(ep, events, 1024, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_http_server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn* c = events[i].data.ptr;
      if (!c) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          struct conn* nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          connections++;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      int rc;
      if (events[i].events & EPOLLOUT)
        rc = flush_out(ep, c);
      else
        rc = on_readable(ep, c);
      if (rc != 0) drop(ep, c);
    }
  }
  fprintf(stderr, "epoll_http_server: connections=%llu requests=%llu\n", connections, requests);
  return 0;
}
