// SPDX-License-Identifier: MIT
/* The event-driven reference for the macro benchmark: the same echo protocol
 * as tests/programs/echo_server.c, written the way people rewrite such a
 * server when threads get too expensive: one thread, non-blocking sockets,
 * one epoll set (level-triggered), and a per-connection buffer for bytes the
 * socket would not take yet.
 *
 *   epoll_echo_server [-a ADDR] [-p PORT] [-b BACKLOG] [-w WORKERS]
 *
 *   -a ADDR     address to listen on (default 127.0.0.1)
 *   -p PORT     port (default 7008; 0 lets the kernel choose, only with -w 1)
 *   -b BACKLOG  listen backlog (default SOMAXCONN)
 *   -w WORKERS  processes sharing the port with SO_REUSEPORT (default 1). Each
 *               is one epoll loop. Used to serve more connections than one
 *               process has descriptors for (the load generator's self-test).
 *
 * Prints "listening on ADDR:PORT" on stdout when ready. SIGINT/SIGTERM
 * prints "epoll_echo_server: connections=C requests=R bytes=B" (per worker)
 * on stderr and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF 16384

struct conn {
  int fd;
  uint32_t pending_off, pending_len; /* bytes read but not yet written */
  char* pending;                     /* allocated only when a write falls short */
};

static unsigned long long connections, requests, bytes;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = 1; }

static int listener(const char* addr, int port, int backlog, int reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "epoll_echo_server: bad address %s\n", addr);
    exit(2);
  }
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0) {
    perror("epoll_echo_server: bind/listen");
    exit(1);
  }
  return fd;
}

static void drop(int ep, struct conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->pending);
  free(c);
}

/* Writes what is pending; returns -1 when the connection is dead. */
static int flush_pending(int ep, struct conn* c) {
  while (c->pending_len > 0) {
    ssize_t w = send(c->fd, c->pending + c->pending_off, c->pending_len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    c->pending_off += (uint32_t)w;
    c->pending_len -= (uint32_t)w;
  }
  /* All out: read again, stop watching for writability. */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

/* Echoes what is readable; returns -1 when the connection is done. */
static int on_readable(int ep, struct conn* c, char* buf) {
  ssize_t n = recv(c->fd, buf, BUF, 0);
  if (n == 0) return -1;
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  requests++;
  bytes += (unsigned long long)n;
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = send(c->fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -1;
      /* The peer is slow: keep the rest, wait for EPOLLOUT, stop reading. */
      if (!c->pending) c->pending = malloc(BUF);
      if (!c->pending) return -1;
      memcpy(c->pending, buf + off, (size_t)(n - off));
      c->pending_off = 0;
      c->pending_len = (uint32_t)(n - off);
      struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      return 0;
    }
    off += w;
  }
  return 0;
}

static void serve(int lfd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the listener */
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static struct epoll_event events[1024];
  static char buf[BUF];
  while (!stop) {
    int n = epoll_wait(ep, events, 1024, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_echo_server: epoll_wait");
      exit(1);
    }
    for (int i = 0; i < n; i++) {
      struct conn* c = events[i].data.ptr;
      if (!c) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
              static int said;
              if (!said++) perror("epoll_echo_server: accept4");
            }
            break;
          }
          c = calloc(1, sizeof *c);
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
          connections++;
        }
        continue;
      }
      int r = 0;
      if (events[i].events & EPOLLOUT) {
        r = flush_pending(ep, c);
      } else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        r = on_readable(ep, c, buf);
      }
      if (r < 0) drop(ep, c);
    }
  }
  char msg[160];
  int len = snprintf(msg, sizeof msg, "epoll_echo_server: connections=%llu requests=%llu bytes=%llu\n",
                     connections, requests, bytes);
  write(2, msg, (size_t)len);
}

int main(int argc, char** argv) {
  const char* addr = "127.0.0.1";
  int port = 7008, backlog = SOMAXCONN, workers = 1, opt;
  while ((opt = getopt(argc, argv, "a:p:b:w:")) != -1) {
    switch (opt) {
      case 'a': addr = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'b': backlog = atoi(optarg); break;
      case 'w': workers = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-b BACKLOG] [-w WORKERS]\n", argv[0]);
        return 2;
    }
  }
  if (workers < 1 || (workers > 1 && port == 0)) {
    fprintf(stderr, "epoll_echo_server: -w needs a fixed port and a count >= 1\n");
    return 2;
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  if (workers == 1) {
    int lfd = listener(addr, port, backlog, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(lfd, (struct sockaddr*)&a, &len);
    printf("listening on %s:%d\n", addr, ntohs(a.sin_port));
    fflush(stdout);
    serve(lfd);
    return 0;
  }

  /* Several processes, each with its own SO_REUSEPORT listener. */
  pid_t* kids = calloc((size_t)workers, sizeof *kids);
  for (int w = 0; w < workers; w++) {
    int lfd = listener(addr, port, backlog, 1);
    pid_t pid = fork();
    if (pid == 0) {
      serve(lfd);
      _exit(0);
    }
    close(lfd);
    kids[w] = pid;
  }
  printf("listening on %s:%d\n", addr, port);
  fflush(stdout);
  while (!stop) pause();
  for (int w = 0; w < workers; w++) kill(kids[w], SIGTERM);
  while (wait(NULL) > 0) {
  }
  return 0;
}
