// SPDX-License-Identifier: MIT
/* Closed-loop load generator for echo servers (the macro benchmark).
 *
 *   loadgen -p PORT [-H ADDR] [-c CONNS] [-s BYTES] [-w SECS] [-d SECS]
 *           [-P PROCS] [-t THREADS] [-S SOURCES] [-B BURST] [-T SECS]
 *           [--fin] [--json FILE]
 *   loadgen --serve -p PORT [-H ADDR] [-P PROCS] [-t THREADS]
 *
 * Client mode opens CONNS TCP connections to ADDR:PORT, then keeps exactly
 * one message of BYTES bytes in flight on each (closed loop): send, wait for
 * the whole echo, check every byte, record the round trip, send the next.
 *
 *   1. connect: at most BURST connections per thread are being set up at a
 *      time (connect + one verified echo), so the server's listen backlog
 *      does not overflow. A connection counts as established only after its
 *      first echo came back intact. Limit: -T SECS (default 60).
 *   2. warm-up: -w SECS (default 1) of load, not recorded.
 *   3. measurement: -d SECS (default 5); requests that complete in the
 *      window are counted and their latency goes into a log-linear
 *      histogram (1/64 relative resolution).
 *   4. drain: no new requests; the ones in flight must complete (5 s), then
 *      every connection is closed with a reset (SO_LINGER 0), so that no
 *      TIME_WAIT sockets hold loopback ports between runs; --fin closes
 *      with a normal FIN instead.
 *
 * Each message is a different slice of a random pattern (by connection and
 * sequence number); bytes that differ from what was sent, arrive in excess,
 * or do not arrive are counted, and any of them makes the exit status 1.
 *
 * Scale: connections are spread over PROCS processes (default: as many as
 * the descriptor limit needs; the soft RLIMIT_NOFILE is raised to the hard
 * one) and THREADS epoll threads per process (default 1). With SOURCES > 1
 * (default: one per 10,000 connections), connection i binds the source
 * address 127.0.0.(1 + i % SOURCES) with IP_BIND_ADDRESS_NO_PORT: one
 * source/destination pair has only ~28,000 ephemeral ports, and connect()
 * gets slow searching for a free one well before they are all taken.
 *
 * Output: progress lines on stderr ("loadgen: connected ...", "loadgen:
 * measuring", "loadgen: measured", "loadgen: done"), and one JSON object
 * with the results on stdout (or in --json FILE).
 *
 * Serve mode (--serve) is the load generator's own echo responder, built from
 * the same event loop: it measures the load generator against itself (the
 * highest rate the client reaches on this machine) and lets one machine hold
 * more connections than one process has descriptors (-P processes share the
 * port with SO_REUSEPORT). It runs until SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ---- histogram: log-linear, 64 sub-buckets per power of two (ns) ---- */

#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS) * SUB + SUB)

static int bucket_of(uint64_t v) {
  if (v < 2 * SUB) return (int)v;
  int e = 63 - __builtin_clzll(v); /* >= SUB_BITS + 1 */
  return (e - SUB_BITS) * SUB + (int)(v >> (e - SUB_BITS));
}

/* Middle of bucket b's range. */
static double bucket_value(int b) {
  if (b < 2 * SUB) return b;
  int e = b / SUB + SUB_BITS - 1;
  uint64_t mant = (uint64_t)(b - (e - SUB_BITS) * SUB);
  double lo = (double)(mant << (e - SUB_BITS));
  return lo + (double)(1ull << (e - SUB_BITS)) / 2.0;
}

/* ---- shared state between the coordinator and the worker processes ---- */

enum { PH_CONNECT = 0, PH_RUN = 1 };
enum { W_CONNECTING = 0, W_CONNECTED = 1, W_DONE = 2 };

struct result {
  _Atomic int state;
  _Atomic uint64_t established; /* live: read by the coordinator while connecting */
  uint64_t connect_failed, timeouts;
  uint64_t requests, requests_all, bytes_checked;
  uint64_t mismatched, excess, errors, incomplete;
  uint64_t cpu_ns_window, user_ns_window; /* CPU time in the window, and its user part */
  uint64_t hist[NBUCKETS];
  char first_error[160];
};

struct shared {
  _Atomic int phase;
  int64_t t_measure_start, t_measure_end; /* CLOCK_MONOTONIC ns, set before phase */
  struct result r[];
};

static struct shared* sh;

/* ---- options ---- */

static const char* opt_host = "127.0.0.1";
static int opt_port = -1;
static long opt_conns = 100;
static long opt_size = 64;
static double opt_warm = 1.0, opt_dur = 5.0, opt_connect_limit = 60.0;
static int opt_procs = 0, opt_threads = 1, opt_sources = -1, opt_burst = 64;
static int opt_fin = 0, opt_serve = 0;
static const char* opt_json = NULL;

static struct in_addr dest_addr;
static char* pattern;
#define PATTERN_SPAN 65536

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_user_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return (int64_t)ru.ru_utime.tv_sec * 1000000000 + (int64_t)ru.ru_utime.tv_usec * 1000;
}

static int64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_error(struct result* r, const char* what, int err) {
  if (r->first_error[0]) return;
  snprintf(r->first_error, sizeof r->first_error, "%s: %s", what, err ? strerror(err) : "");
}

/* ---- client ---- */

enum { C_CONNECTING, C_FIRST, C_IDLE, C_BUSY, C_DEAD };

struct conn {
  int fd;
  uint8_t state;
  uint8_t want_out; /* EPOLLOUT registered */
  uint32_t id;
  uint32_t sent, got;
  uint64_t seq;
  int64_t t_send; /* or, while setting up, when the setup started */
};

struct worker {
  long lo, hi; /* global connection ids [lo, hi) */
  struct result* r;
  struct conn* conns;
  int ep;
  long setting_up, busy;
  char* rbuf;
};

static size_t slice_of(const struct conn* c) {
  return (size_t)(((uint64_t)c->id * 2654435761u + c->seq * 40503u) % PATTERN_SPAN);
}

static void set_events(struct worker* w, struct conn* c, int out) {
  if (c->want_out == out) return;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = (uint8_t)out;
}

static void kill_conn(struct worker* w, struct conn* c, const char* what, int err, int count) {
  if (c->state == C_DEAD) return;
  if (c->state == C_CONNECTING || c->state == C_FIRST) {
    w->setting_up--;
    w->r->connect_failed++;
  } else {
    if (c->state == C_BUSY) w->busy--;
    if (count) w->r->errors++;
  }
  note_error(w->r, what, err);
  close(c->fd);
  c->fd = -1;
  c->state = C_DEAD;
}

/* Sends what is left of the current message. */
static void push(struct worker* w, struct conn* c) {
  while (c->sent < (uint32_t)opt_size) {
    ssize_t n = send(c->fd, pattern + slice_of(c) + c->sent, (size_t)opt_size - c->sent,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        set_events(w, c, 1);
        return;
      }
      kill_conn(w, c, "send", errno, 1);
      return;
    }
    c->sent += (uint32_t)n;
  }
  set_events(w, c, 0);
}

static void start_request(struct worker* w, struct conn* c, int64_t now) {
  c->sent = c->got = 0;
  c->t_send = now;
  if (c->state == C_IDLE) {
    c->state = C_BUSY;
    w->busy++;
  }
  push(w, c);
}

/* Returns 0, or the errno of socket() (out of descriptors: stop opening). */
static int open_conn(struct worker* w, struct conn* c, long id) {
  c->id = (uint32_t)id;
  c->state = C_CONNECTING;
  c->want_out = 1;
  c->t_send = now_ns();
  c->seq = 0;
  w->setting_up++;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    int e = errno;
    c->state = C_DEAD;
    w->setting_up--;
    w->r->connect_failed++;
    note_error(w->r, "socket", e);
    return e;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!opt_fin) {
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  if (opt_sources > 1) {
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(id % opt_sources));
    if (bind(c->fd, (struct sockaddr*)&src, sizeof src) != 0) {
      kill_conn(w, c, "bind source address", errno, 0);
      return 0;
    }
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port),
                           .sin_addr = dest_addr};
  if (connect(c->fd, (struct sockaddr*)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    kill_conn(w, c, "connect", errno, 0);
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

/* A message came back complete. */
static void completed(struct worker* w, struct conn* c, int64_t now, int running) {
  w->r->bytes_checked += (uint64_t)opt_size;
  if (c->state == C_FIRST) {
    w->setting_up--;
    atomic_fetch_add(&w->r->established, 1);
    c->state = C_IDLE;
  } else {
    w->r->requests_all++;
    if (now >= sh->t_measure_start && now < sh->t_measure_end) {
      w->r->requests++;
      w->r->hist[bucket_of((uint64_t)(now - c->t_send))]++;
    }
    c->state = C_IDLE;
    w->busy--;
  }
  c->seq++;
  if (running && now < sh->t_measure_end) start_request(w, c, now);
}

static void on_event(struct worker* w, struct conn* c, uint32_t ev, int running) {
  if (c->state == C_DEAD) return;
  if (c->state == C_CONNECTING) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      kill_conn(w, c, "connect", err, 0);
      return;
    }
    c->state = C_FIRST;
    c->sent = c->got = 0;
    push(w, c);
    return;
  }
  if ((ev & EPOLLOUT) && c->sent < (uint32_t)opt_size) push(w, c);
  if (c->state == C_DEAD || !(ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  /* Read at most what is missing plus one byte, to notice excess bytes. */
  int busy = c->state == C_BUSY || c->state == C_FIRST;
  size_t want = busy ? (size_t)opt_size - c->got + 1 : 1;
  ssize_t n = recv(c->fd, w->rbuf, want, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    kill_conn(w, c, "recv", errno, 1);
    return;
  }
  if (n == 0) {
    kill_conn(w, c, "server closed the connection", 0, 1);
    return;
  }
  size_t room = busy ? (size_t)opt_size - c->got : 0;
  if ((size_t)n > room) {
    w->r->excess++;
    kill_conn(w, c, "server sent bytes that were not asked for", 0, 1);
    return;
  }
  if (memcmp(w->rbuf, pattern + slice_of(c) + c->got, (size_t)n) != 0) {
    w->r->mismatched++;
    kill_conn(w, c, "echoed bytes differ from the bytes sent", 0, 1);
    return;
  }
  c->got += (uint32_t)n;
  if (c->got == (uint32_t)opt_size && c->sent == (uint32_t)opt_size) {
    completed(w, c, now_ns(), running);
  }
}

static void* client_thread(void* arg) {
  struct worker* w = arg;
  struct result* r = w->r;
  long n = w->hi - w->lo;
  w->conns = calloc((size_t)(n ? n : 1), sizeof *w->conns);
  w->rbuf = malloc((size_t)opt_size + 1);
  w->ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[512];
  int64_t limit = (int64_t)(opt_connect_limit * 1e9);
  int64_t deadline = now_ns() + limit;

  /* 1. connect */
  long next = 0;
  int out_of_fds = 0;
  while ((next < n && !out_of_fds) || w->setting_up > 0) {
    while (next < n && !out_of_fds && w->setting_up < opt_burst) {
      int e = open_conn(w, &w->conns[next], w->lo + next);
      next++;
      if (e) { /* no descriptor: the rest cannot be opened either */
        out_of_fds = 1;
        r->connect_failed += (uint64_t)(n - next);
        next = n;
      }
    }
    int k = epoll_wait(w->ep, evs, 512, 10);
    for (int i = 0; i < k; i++) on_event(w, evs[i].data.ptr, evs[i].events, 0);
    int64_t now = now_ns();
    if (now > deadline) {
      for (long i = 0; i < next; i++) {
        struct conn* c = &w->conns[i];
        if (c->state == C_CONNECTING || c->state == C_FIRST) {
          r->timeouts++;
          kill_conn(w, c, "connection set-up timed out", 0, 0);
        }
      }
      r->connect_failed += (uint64_t)(n - next);
      next = n;
      break;
    }
  }
  atomic_store(&r->state, W_CONNECTED);

  /* Idle until the coordinator starts the run; notice servers that drop us. */
  while (atomic_load_explicit(&sh->phase, memory_order_acquire) != PH_RUN) {
    int k = epoll_wait(w->ep, evs, 512, 10);
    for (int i = 0; i < k; i++) on_event(w, evs[i].data.ptr, evs[i].events, 0);
  }

  /* 2./3. warm-up and measurement */
  int64_t now = now_ns();
  for (long i = 0; i < n; i++)
    if (w->conns[i].state == C_IDLE) start_request(w, &w->conns[i], now);
  int in_window = 0;
  int64_t cpu0 = 0, user0 = 0;
  for (;;) {
    int k = epoll_wait(w->ep, evs, 512, 5);
    for (int i = 0; i < k; i++) on_event(w, evs[i].data.ptr, evs[i].events, 1);
    now = now_ns();
    if (!in_window && now >= sh->t_measure_start) {
      in_window = 1;
      cpu0 = thread_cpu_ns();
      user0 = thread_user_ns();
    }
    if (now >= sh->t_measure_end) break;
  }
  r->cpu_ns_window = (uint64_t)(thread_cpu_ns() - cpu0);
  r->user_ns_window = (uint64_t)(thread_user_ns() - user0);

  /* 4. drain */
  int64_t drain_end = now_ns() + 5000000000ll;
  while (w->busy > 0 && now_ns() < drain_end) {
    int k = epoll_wait(w->ep, evs, 512, 10);
    for (int i = 0; i < k; i++) on_event(w, evs[i].data.ptr, evs[i].events, 1);
  }
  for (long i = 0; i < n; i++) {
    struct conn* c = &w->conns[i];
    if (c->state == C_BUSY) {
      r->incomplete++;
      note_error(r, "no complete echo within 5 s after the run", 0);
    }
    if (c->fd >= 0 && c->state != C_DEAD) close(c->fd);
  }
  atomic_store(&r->state, W_DONE);
  return NULL;
}

/* ---- serve mode: the load generator's own echo responder ---- */

static volatile sig_atomic_t serve_stop;
static void on_stop(int sig) { serve_stop = 1; }

struct echo_conn {
  int fd;
  uint32_t off, len;
  char* pending;
};

static void* serve_thread(void* arg) {
  (void)arg;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port),
                           .sin_addr = dest_addr};
  if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(lfd, SOMAXCONN) != 0) {
    perror("loadgen --serve: bind/listen");
    exit(1);
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[512];
  static __thread char buf[65536];
  while (!serve_stop) {
    int k = epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < k; i++) {
      struct echo_conn* c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          c = calloc(1, sizeof *c);
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      int dead = 0;
      if (c->len > 0) { /* waiting for room to write */
        ssize_t w = send(c->fd, c->pending + c->off, c->len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) dead = 1;
        if (w > 0) {
          c->off += (uint32_t)w;
          c->len -= (uint32_t)w;
        }
        if (!dead && c->len == 0) {
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
        }
      } else {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) dead = 1;
        ssize_t off = 0;
        while (n > 0 && off < n) {
          ssize_t w = send(c->fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
          if (w < 0 && errno == EAGAIN) {
            if (!c->pending) c->pending = malloc(sizeof buf);
            memcpy(c->pending, buf + off, (size_t)(n - off));
            c->off = 0;
            c->len = (uint32_t)(n - off);
            struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
            break;
          }
          if (w < 0) {
            dead = 1;
            break;
          }
          off += w;
        }
      }
      if (dead) {
        close(c->fd);
        free(c->pending);
        free(c);
      }
    }
  }
  return NULL;
}

static int run_serve(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  int procs = opt_procs > 0 ? opt_procs : 1;
  pid_t* kids = calloc((size_t)procs, sizeof *kids);
  for (int p = 0; p < procs; p++) {
    pid_t pid = fork();
    if (pid == 0) {
      pthread_t* ts = calloc((size_t)opt_threads, sizeof *ts);
      for (int t = 1; t < opt_threads; t++) pthread_create(&ts[t], NULL, serve_thread, NULL);
      serve_thread(NULL);
      _exit(0);
    }
    kids[p] = pid;
  }
  /* Ready when the port accepts. */
  for (int tries = 0; tries < 500; tries++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port),
                            .sin_addr = dest_addr};
    int ok = connect(fd, (struct sockaddr*)&a, sizeof a) == 0;
    close(fd);
    if (ok) break;
    usleep(10000);
  }
  printf("listening on %s:%d\n", opt_host, opt_port);
  fflush(stdout);
  while (!serve_stop) pause();
  for (int p = 0; p < procs; p++) kill(kids[p], SIGTERM);
  while (wait(NULL) > 0) {
  }
  return 0;
}

/* ---- coordinator ---- */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen -p PORT [-H ADDR] [-c CONNS] [-s BYTES] [-w SECS] [-d SECS]\n"
          "               [-P PROCS] [-t THREADS] [-S SOURCES] [-B BURST] [-T SECS]\n"
          "               [--fin] [--json FILE]\n"
          "       loadgen --serve -p PORT [-H ADDR] [-P PROCS] [-t THREADS]\n");
  exit(2);
}

static double pct(const uint64_t* h, uint64_t total, double q) {
  if (!total) return NAN;
  uint64_t rank = (uint64_t)ceil(q * (double)total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < NBUCKETS; b++) {
    seen += h[b];
    if (seen >= rank) return bucket_value(b);
  }
  return NAN;
}

static double max_of(const uint64_t* h) {
  for (int b = NBUCKETS - 1; b >= 0; b--)
    if (h[b]) return bucket_value(b);
  return NAN;
}

/* A JSON number, or null for NaN. */
static const char* jnum(char* buf, double v) {
  if (isnan(v)) return "null";
  snprintf(buf, 32, "%.2f", v);
  return buf;
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

int main(int argc, char** argv) {
  static struct option longopts[] = {{"serve", no_argument, NULL, 1},
                                     {"fin", no_argument, NULL, 2},
                                     {"json", required_argument, NULL, 3},
                                     {"help", no_argument, NULL, 'h'},
                                     {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "H:p:c:s:w:d:P:t:S:B:T:h", longopts, NULL)) != -1) {
    switch (o) {
      case 'H': opt_host = optarg; break;
      case 'p': opt_port = atoi(optarg); break;
      case 'c': opt_conns = atol(optarg); break;
      case 's': opt_size = atol(optarg); break;
      case 'w': opt_warm = atof(optarg); break;
      case 'd': opt_dur = atof(optarg); break;
      case 'P': opt_procs = atoi(optarg); break;
      case 't': opt_threads = atoi(optarg); break;
      case 'S': opt_sources = atoi(optarg); break;
      case 'B': opt_burst = atoi(optarg); break;
      case 'T': opt_connect_limit = atof(optarg); break;
      case 1: opt_serve = 1; break;
      case 2: opt_fin = 1; break;
      case 3: opt_json = optarg; break;
      default: usage();
    }
  }
  if (optind != argc || opt_port <= 0 || opt_port > 65535 || opt_conns < 1 ||
      opt_conns > 10000000 || opt_size < 1 || opt_size > (1 << 20) || opt_threads < 1 ||
      opt_burst < 1 || opt_dur <= 0 || opt_warm < 0 || opt_procs < 0)
    usage();
  if (inet_pton(AF_INET, opt_host, &dest_addr) != 1) {
    fprintf(stderr, "loadgen: -H takes an IPv4 address, not %s\n", opt_host);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (opt_serve) return run_serve();

  long per_proc_max = (long)rl.rlim_cur - 32 - 2L * opt_threads;
  if (per_proc_max < 1) {
    fprintf(stderr, "loadgen: RLIMIT_NOFILE %ld is too low\n", (long)rl.rlim_cur);
    return 2;
  }
  int procs = opt_procs;
  if (procs == 0) procs = (int)((opt_conns + per_proc_max - 1) / per_proc_max);
  if ((opt_conns + procs - 1) / procs > per_proc_max) {
    fprintf(stderr,
            "loadgen: %ld connections in %d processes exceed the descriptor limit (%ld each)\n",
            opt_conns, procs, (long)rl.rlim_cur);
    return 2;
  }
  uint32_t loopback = ntohl(dest_addr.s_addr) >> 24 == 127;
  if (opt_sources < 0) opt_sources = loopback ? (int)((opt_conns + 9999) / 10000) : 1;
  if (opt_sources > 1 && !loopback) {
    fprintf(stderr, "loadgen: -S needs a loopback destination (127.x.x.x)\n");
    return 2;
  }

  pattern = malloc(PATTERN_SPAN + (size_t)opt_size);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < PATTERN_SPAN + (size_t)opt_size; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    pattern[i] = (char)(x >> 24);
  }

  int nworkers = procs * opt_threads;
  size_t shsize = sizeof(struct shared) + (size_t)nworkers * sizeof(struct result);
  sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    perror("loadgen: mmap");
    return 1;
  }
  atomic_store(&sh->phase, PH_CONNECT);

  int64_t t0 = now_ns();
  pid_t* kids = calloc((size_t)procs, sizeof *kids);
  for (int p = 0; p < procs; p++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("loadgen: fork");
      return 1;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() == 1) _exit(1);
      struct worker* ws = calloc((size_t)opt_threads, sizeof *ws);
      pthread_t* ts = calloc((size_t)opt_threads, sizeof *ts);
      for (int t = 0; t < opt_threads; t++) {
        int wi = p * opt_threads + t;
        ws[t].lo = opt_conns * wi / nworkers;
        ws[t].hi = opt_conns * (wi + 1) / nworkers;
        ws[t].r = &sh->r[wi];
        if (t > 0) pthread_create(&ts[t], NULL, client_thread, &ws[t]);
      }
      client_thread(&ws[0]);
      for (int t = 1; t < opt_threads; t++) pthread_join(ts[t], NULL);
      _exit(0);
    }
    kids[p] = pid;
  }

  /* Wait for the connect phase of every worker. */
  int64_t last_report = t0;
  for (;;) {
    int done = 1;
    uint64_t est = 0;
    for (int i = 0; i < nworkers; i++) {
      if (atomic_load(&sh->r[i].state) < W_CONNECTED) done = 0;
      est += atomic_load(&sh->r[i].established);
    }
    int64_t now = now_ns();
    if (done) break;
    if (now - last_report > 2000000000ll) {
      fprintf(stderr, "loadgen: %llu/%ld connected\n", (unsigned long long)est, opt_conns);
      last_report = now;
    }
    if (waitpid(-1, NULL, WNOHANG) > 0) {
      fprintf(stderr, "loadgen: a worker process died\n");
      return 1;
    }
    usleep(2000);
  }
  int64_t t_conn = now_ns();
  uint64_t established = 0, failed = 0;
  for (int i = 0; i < nworkers; i++) {
    established += atomic_load(&sh->r[i].established);
    failed += sh->r[i].connect_failed;
  }
  fprintf(stderr, "loadgen: connected %llu/%ld in %.2f s", (unsigned long long)established,
          opt_conns, secs(t_conn - t0));
  for (int i = 0; i < nworkers; i++)
    if (sh->r[i].first_error[0]) {
      fprintf(stderr, " (%llu failed; first: %s)", (unsigned long long)failed,
              sh->r[i].first_error);
      break;
    }
  fprintf(stderr, "\n");

  sh->t_measure_start = t_conn + (int64_t)(opt_warm * 1e9);
  sh->t_measure_end = sh->t_measure_start + (int64_t)(opt_dur * 1e9);
  atomic_store_explicit(&sh->phase, PH_RUN, memory_order_release);
  struct timespec until;
  until.tv_sec = sh->t_measure_start / 1000000000;
  until.tv_nsec = sh->t_measure_start % 1000000000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
  }
  fprintf(stderr, "loadgen: measuring %.1f s\n", opt_dur);
  until.tv_sec = sh->t_measure_end / 1000000000;
  until.tv_nsec = sh->t_measure_end % 1000000000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
  }
  fprintf(stderr, "loadgen: measured\n");

  struct rusage ru_total = {0};
  for (int p = 0; p < procs; p++) {
    int status;
    struct rusage ru;
    if (wait4(kids[p], &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
      fprintf(stderr, "loadgen: worker process %d failed\n", p);
      return 1;
    }
    ru_total.ru_utime.tv_sec += ru.ru_utime.tv_sec;
    ru_total.ru_utime.tv_usec += ru.ru_utime.tv_usec;
    ru_total.ru_stime.tv_sec += ru.ru_stime.tv_sec;
    ru_total.ru_stime.tv_usec += ru.ru_stime.tv_usec;
  }

  struct result tot;
  memset(&tot, 0, sizeof tot);
  const char* first_error = "";
  for (int i = 0; i < nworkers; i++) {
    struct result* r = &sh->r[i];
    tot.connect_failed += r->connect_failed;
    tot.timeouts += r->timeouts;
    tot.requests += r->requests;
    tot.requests_all += r->requests_all;
    tot.bytes_checked += r->bytes_checked;
    tot.mismatched += r->mismatched;
    tot.excess += r->excess;
    tot.errors += r->errors;
    tot.incomplete += r->incomplete;
    tot.cpu_ns_window += r->cpu_ns_window;
    tot.user_ns_window += r->user_ns_window;
    for (int b = 0; b < NBUCKETS; b++) tot.hist[b] += r->hist[b];
    if (!first_error[0] && r->first_error[0]) first_error = r->first_error;
  }
  double window = secs(sh->t_measure_end - sh->t_measure_start);
  double rps = (double)tot.requests / window;
  double cpu = (double)ru_total.ru_utime.tv_sec + (double)ru_total.ru_stime.tv_sec +
               ((double)ru_total.ru_utime.tv_usec + (double)ru_total.ru_stime.tv_usec) / 1e6;
  int ok = established == (uint64_t)opt_conns && tot.mismatched == 0 && tot.excess == 0 &&
           tot.errors == 0 && tot.incomplete == 0;

  char j[5][32];
  FILE* out = stdout;
  if (opt_json && !(out = fopen(opt_json, "w"))) {
    perror(opt_json);
    return 1;
  }
  fprintf(out,
          "{\"connections\": %ld, \"established\": %llu, \"connect_failed\": %llu, "
          "\"connect_timeouts\": %llu, \"connect_seconds\": %.3f, \"message_bytes\": %ld, "
          "\"processes\": %d, \"threads_per_process\": %d, \"source_addresses\": %d, "
          "\"warmup_seconds\": %.3f, \"window_seconds\": %.3f, \"requests\": %llu, "
          "\"requests_all_phases\": %llu, \"requests_per_second\": %.1f, "
          "\"bytes_checked\": %llu, \"mismatched\": %llu, \"excess\": %llu, \"errors\": %llu, "
          "\"incomplete\": %llu, \"latency_us\": {\"p50\": %s, \"p90\": %s, \"p99\": %s, "
          "\"p999\": %s, \"max\": %s}, \"loadgen_cpu_seconds\": %.3f, "
          "\"loadgen_cpu_in_window\": %.3f, \"loadgen_user_in_window\": %.3f, \"ok\": %s, "
          "\"first_error\": \"%s\"}\n",
          opt_conns, (unsigned long long)established, (unsigned long long)tot.connect_failed,
          (unsigned long long)tot.timeouts, secs(t_conn - t0), opt_size, procs, opt_threads,
          opt_sources > 1 ? opt_sources : 1, opt_warm, window,
          (unsigned long long)tot.requests, (unsigned long long)tot.requests_all, rps,
          (unsigned long long)tot.bytes_checked, (unsigned long long)tot.mismatched,
          (unsigned long long)tot.excess, (unsigned long long)tot.errors,
          (unsigned long long)tot.incomplete, jnum(j[0], pct(tot.hist, tot.requests, 0.50) / 1e3),
          jnum(j[1], pct(tot.hist, tot.requests, 0.90) / 1e3),
          jnum(j[2], pct(tot.hist, tot.requests, 0.99) / 1e3),
          jnum(j[3], pct(tot.hist, tot.requests, 0.999) / 1e3), jnum(j[4], max_of(tot.hist) / 1e3),
          cpu,
          secs((int64_t)tot.cpu_ns_window) / window, secs((int64_t)tot.user_ns_window) / window,
          ok ? "true" : "false", first_error);
  if (out != stdout) fclose(out);
  fprintf(stderr,
          "loadgen: done: %llu requests in %.2f s = %.0f/s, p50 %.1f us, p99 %.1f us, "
          "p99.9 %.1f us; %llu bytes checked, %llu mismatched, %llu errors, %llu incomplete%s%s\n",
          (unsigned long long)tot.requests, window, rps, pct(tot.hist, tot.requests, 0.5) / 1e3,
          pct(tot.hist, tot.requests, 0.99) / 1e3, pct(tot.hist, tot.requests, 0.999) / 1e3,
          (unsigned long long)tot.bytes_checked, (unsigned long long)tot.mismatched,
          (unsigned long long)tot.errors, (unsigned long long)tot.incomplete,
          first_error[0] ? "; first error: " : "", first_error);
  return ok ? 0 : 1;
}
