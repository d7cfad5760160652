// SPDX-License-Identifier: MIT
/* Sockets over loopback: a thread-per-connection TCP server and client
 * threads exchanging checksummed data, UDP, connection errors (ECONNREFUSED,
 * EPIPE, ECONNRESET), SO_RCVTIMEO, non-blocking modes set at creation, with
 * fcntl and with ioctl(FIONBIO), and shutdown. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static volatile size_t v_len = 4096;

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* A listening TCP socket on 127.0.0.1, port chosen by the kernel. */
static int tcp_listener(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = loopback(0);
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 64) != 0) {
    perror("listener");
    exit(2);
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(port);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    printf("connect: %s\n", errname(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* A connected TCP pair (client, server side). */
static void tcp_pair(int* c, int* s) {
  uint16_t port;
  int l = tcp_listener(&port);
  *c = tcp_connect(port);
  *s = accept(l, NULL, NULL);
  close(l);
  if (*c < 0 || *s < 0) exit(2);
}

/* ---- 1. thread-per-connection server, several clients ---- */

#define CLIENTS 8
#define REQ_BYTES (300000u)
#define REPLY_BYTES (1u << 20)

struct header {
  uint32_t id;
  uint32_t len;
};

struct reply {
  uint64_t sum;
  uint64_t len;
};

static void* serve_conn(void* p) {
  int fd = (int)(intptr_t)p;
  struct header h;
  if (read_full(fd, &h, sizeof h) != (ssize_t)sizeof h) goto out;
  /* read the request until EOF (the client shuts down its sending side) */
  uint64_t sum = FNV_INIT, len = 0;
  char buf[8192];
  for (;;) {
    size_t want = v_len * 2;
    ssize_t r = recv(fd, buf, want, 0);
    if (r <= 0) break;
    sum = fnv1a(sum, buf, (size_t)r);
    len += (uint64_t)r;
  }
  struct reply rep = {sum, len};
  if (send(fd, &rep, sizeof rep, 0) != (ssize_t)sizeof rep) goto out;
  /* then a large reply in one send: must go out whole */
  unsigned char* big = (unsigned char*)malloc(REPLY_BYTES);
  pattern_fill(h.id + 100, 0, big, REPLY_BYTES);
  ssize_t w = send(fd, big, REPLY_BYTES, 0);
  if (w != (ssize_t)REPLY_BYTES) printf("server: short send %zd\n", w);
  free(big);
out:
  close(fd);
  return NULL;
}

struct acceptor_arg {
  int lfd;
  int n;
};

static void* acceptor(void* p) {
  struct acceptor_arg* a = (struct acceptor_arg*)p;
  pthread_t t[CLIENTS];
  for (int i = 0; i < a->n; i++) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int fd = accept(a->lfd, (struct sockaddr*)&peer, &plen);
    if (fd < 0) {
      printf("accept: %s\n", errname(errno));
      a->n = i;
      break;
    }
    if (plen != sizeof peer || peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
      printf("accept: odd peer address\n");
    pthread_create(&t[i], NULL, serve_conn, (void*)(intptr_t)fd);
  }
  for (int i = 0; i < a->n; i++) pthread_join(t[i], NULL);
  return NULL;
}

struct client {
  uint16_t port;
  uint32_t id;
  struct gate* start;
  int ok_connect, ok_send, ok_reply, ok_big;
};

static void* client(void* p) {
  struct client* c = (struct client*)p;
  gate_wait(c->start);
  int fd = tcp_connect(c->port);
  if (fd < 0) return NULL;
  c->ok_connect = 1;
  size_t len = REQ_BYTES + c->id * 1001;
  unsigned char* req = (unsigned char*)malloc(len);
  pattern_fill(c->id, 0, req, len);
  struct header h = {c->id, (uint32_t)len};
  uint64_t sum = fnv1a(FNV_INIT, req, len);
  c->ok_send = send(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
               send(fd, req, len, 0) == (ssize_t)len && shutdown(fd, SHUT_WR) == 0;
  free(req);
  struct reply rep;
  c->ok_reply = read_full(fd, &rep, sizeof rep) == (ssize_t)sizeof rep && rep.sum == sum &&
                rep.len == len;
  unsigned char* big = (unsigned char*)malloc(REPLY_BYTES + 1);
  ssize_t got = read_full(fd, big, REPLY_BYTES + 1); /* +1: must then see EOF */
  unsigned char* want = (unsigned char*)malloc(REPLY_BYTES);
  pattern_fill(c->id + 100, 0, want, REPLY_BYTES);
  c->ok_big = got == (ssize_t)REPLY_BYTES && memcmp(big, want, REPLY_BYTES) == 0;
  free(big);
  free(want);
  close(fd);
  return NULL;
}

static void test_server(void) {
  uint16_t port;
  int lfd = tcp_listener(&port);
  struct acceptor_arg aa = {lfd, CLIENTS};
  struct gate start;
  gate_init(&start);
  pthread_t ta, tc[CLIENTS];
  struct client cl[CLIENTS];
  pthread_create(&ta, NULL, acceptor, &aa);
  for (int i = 0; i < CLIENTS; i++) {
    cl[i] = (struct client){port, (uint32_t)i, &start, 0, 0, 0, 0};
    pthread_create(&tc[i], NULL, client, &cl[i]);
  }
  tasks_sample(); /* clients wait for the gate, the acceptor for them */
  gate_open(&start, CLIENTS);
  for (int i = 0; i < CLIENTS; i++) pthread_join(tc[i], NULL);
  pthread_join(ta, NULL);
  close(lfd);
  gate_close(&start);
  for (int i = 0; i < CLIENTS; i++)
    printf("client %d: connect %s, request %s, reply checksum %s, 1MiB reply %s\n", i,
           cl[i].ok_connect ? "ok" : "FAIL", cl[i].ok_send ? "ok" : "FAIL",
           cl[i].ok_reply ? "ok" : "FAIL", cl[i].ok_big ? "ok" : "FAIL");
  for (int i = 0; i < CLIENTS; i++)
    if (!(cl[i].ok_connect && cl[i].ok_send && cl[i].ok_reply && cl[i].ok_big)) g_failures++;
}

/* ---- 2. UDP ---- */

static int udp_socket(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = loopback(0);
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) != 0) exit(2);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

struct udp_peer {
  int fd;
  uint16_t to;
  int n;
};

static void* udp_sender(void* p) {
  struct udp_peer* u = (struct udp_peer*)p;
  struct sockaddr_in to = loopback(u->to);
  usleep(10000); /* the receiver is (likely) blocked by now */
  char msg[64];
  for (int i = 0; i < u->n; i++) {
    int len = snprintf(msg, sizeof msg, "datagram %d", i);
    if (sendto(u->fd, msg, (size_t)len, 0, (struct sockaddr*)&to, sizeof to) != len) g_failures++;
    /* one at a time: the receiver acknowledges each (no loss on loopback
       as long as the receive buffer never fills) */
    char ack;
    if (recv(u->fd, &ack, 1, 0) != 1) g_failures++;
  }
  return NULL;
}

static void test_udp(void) {
  uint16_t pa, pb;
  int a = udp_socket(&pa), b = udp_socket(&pb);
  struct udp_peer sender = {b, pa, 20};
  pthread_t t;
  pthread_create(&t, NULL, udp_sender, &sender);
  int bad = 0;
  for (int i = 0; i < sender.n; i++) {
    char buf[128], want[64];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    size_t cap = v_len / 32;
    ssize_t r = recvfrom(a, buf, cap, 0, (struct sockaddr*)&from, &flen);
    int wl = snprintf(want, sizeof want, "datagram %d", i);
    if (r != wl || memcmp(buf, want, (size_t)wl) != 0) bad++;
    if (flen != sizeof from || ntohs(from.sin_port) != pb) bad++;
    if (sendto(a, "k", 1, 0, (struct sockaddr*)&from, flen) != 1) bad++;
  }
  pthread_join(t, NULL);
  CHECK(bad == 0, "UDP: 20 datagrams with recvfrom source address and sendto replies", "bad=%d",
        bad);
  /* connected UDP: send/recv */
  struct sockaddr_in to = loopback(pa);
  connect(b, (struct sockaddr*)&to, sizeof to);
  SHOW("UDP send on a connected socket", send(b, "abc", 3, 0));
  char buf[16];
  SHOW("UDP recv", recv(a, buf, sizeof buf, 0));
  close(a);
  close(b);
}

/* ---- 3. connection errors ---- */

struct closer {
  int fd;
  int linger0;
  int delay_us;
};

static void* close_later(void* p) {
  struct closer* c = (struct closer*)p;
  usleep((useconds_t)c->delay_us);
  if (c->linger0) {
    struct linger l = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close(c->fd);
  return NULL;
}

static void* error_checks(void* unused) {
  (void)unused;
  char buf[64];
  size_t cap = v_len / 64;

  /* ECONNREFUSED: a port that is bound but not listening. */
  {
    uint16_t port;
    int u = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    bind(u, (struct sockaddr*)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(u, (struct sockaddr*)&a, &len);
    port = ntohs(a.sin_port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = loopback(port);
    EXPECT_ERR("connect to a closed port: ECONNREFUSED", connect(fd, (struct sockaddr*)&to, sizeof to),
               ECONNREFUSED);
    close(fd);
    close(u);
  }

  /* EPIPE: send after the peer closed (MSG_NOSIGNAL). */
  {
    int c, s;
    tcp_pair(&c, &s);
    close(s);
    SHOW("recv after the peer closed (EOF)", recv(c, buf, cap, 0));
    int err = 0;
    for (int i = 0; i < 1000 && !err; i++) {
      if (send(c, "x", 1, MSG_NOSIGNAL) < 0) err = errno;
      else usleep(1000);
    }
    CHECK(err == EPIPE, "send after the peer closed: EPIPE", "errno=%s", errname(err));
    close(c);
  }

  /* ECONNRESET: the peer closes with SO_LINGER {1, 0} while we wait. */
  {
    int c, s;
    tcp_pair(&c, &s);
    struct closer cl = {s, 1, 20000};
    pthread_t t;
    pthread_create(&t, NULL, close_later, &cl);
    EXPECT_ERR("recv while the peer resets: ECONNRESET", recv(c, buf, cap, 0), ECONNRESET);
    pthread_join(t, NULL);
    SHOW("recv after the reset", recv(c, buf, cap, 0));
    close(c);
  }

  /* SO_RCVTIMEO: EAGAIN after (never before) the timeout. */
  {
    int c, s;
    tcp_pair(&c, &s);
    struct timeval tv = {0, 100000};
    SHOW("setsockopt SO_RCVTIMEO 100ms", setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval back;
    socklen_t bl = sizeof back;
    getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &back, &bl);
    CHECK(back.tv_sec == 0 && back.tv_usec >= 100000 && back.tv_usec < 110000,
          "getsockopt SO_RCVTIMEO reads it back", "%ld.%06ld", (long)back.tv_sec,
          (long)back.tv_usec);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERR("recv with SO_RCVTIMEO and no data: EAGAIN", recv(c, buf, cap, 0), EAGAIN);
    int64_t dt = now_ns(CLOCK_MONOTONIC) - t0;
    CHECK(dt >= 99000000, "recv timed out no earlier than SO_RCVTIMEO", "after %lld ns",
          (long long)dt);
    t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERR("read with SO_RCVTIMEO and no data: EAGAIN", read(c, buf, cap), EAGAIN);
    dt = now_ns(CLOCK_MONOTONIC) - t0;
    CHECK(dt >= 99000000, "read timed out no earlier than SO_RCVTIMEO", "after %lld ns",
          (long long)dt);
    /* data that is there is returned at once */
    if (send(s, "data", 4, 0) != 4) g_failures++;
    SHOW("recv with SO_RCVTIMEO and data", recv(c, buf, cap, 0));
    close(c);
    close(s);
  }

  /* SO_RCVTIMEO on a listener: accept times out, and accepted sockets
     inherit it. */
  {
    uint16_t port;
    int l = tcp_listener(&port);
    struct timeval tv = {0, 50000};
    setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERR("accept with SO_RCVTIMEO and no client: EAGAIN", accept(l, NULL, NULL), EAGAIN);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 49000000, "accept timed out no earlier than SO_RCVTIMEO",
          "early");
    int c = tcp_connect(port);
    int s = accept(l, NULL, NULL);
    struct timeval back = {0, 0};
    socklen_t bl = sizeof back;
    getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &back, &bl);
    CHECK(back.tv_sec == 0 && back.tv_usec >= 50000 && back.tv_usec < 60000,
          "accepted socket inherits the listener's SO_RCVTIMEO", "%ld.%06ld", (long)back.tv_sec,
          (long)back.tv_usec);
    t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERR("recv on the accepted socket times out: EAGAIN", recv(s, buf, cap, 0), EAGAIN);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 49000000, "accepted socket timed out no earlier",
          "early");
    close(c);
    close(s);
    close(l);
  }

  /* SOCK_NONBLOCK at creation. */
  {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    CHECK((fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0, "SOCK_NONBLOCK socketpair has O_NONBLOCK",
          "flags %x", fcntl(sv[0], F_GETFL));
    EXPECT_ERR("recv on an empty SOCK_NONBLOCK socket: EAGAIN", recv(sv[0], buf, cap, 0), EAGAIN);
    EXPECT_ERR("read on an empty SOCK_NONBLOCK socket: EAGAIN", read(sv[0], buf, cap), EAGAIN);
    /* fill the send buffer: a non-blocking send ends with EAGAIN, short or
       not, never blocking */
    static char chunk[65536];
    long total = 0;
    int err = 0;
    for (int i = 0; i < 10000; i++) {
      ssize_t r = send(sv[1], chunk, sizeof chunk, 0);
      if (r < 0) {
        err = errno;
        break;
      }
      total += r;
    }
    CHECK(err == EAGAIN && total > 0, "filling a SOCK_NONBLOCK socket ends with EAGAIN",
          "errno=%s", errname(err));
    close(sv[0]);
    close(sv[1]);

    uint16_t port;
    int l = tcp_listener(&port);
    int nl = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = loopback(0);
    bind(nl, (struct sockaddr*)&a, sizeof a);
    listen(nl, 4);
    EXPECT_ERR("accept on a SOCK_NONBLOCK listener without clients: EAGAIN", accept(nl, NULL, NULL),
               EAGAIN);
    close(nl);
    close(l);
  }

  /* The shim never changes an fd's flags. */
  {
    int c, s;
    tcp_pair(&c, &s);
    CHECK((fcntl(c, F_GETFL) & O_NONBLOCK) == 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) == 0,
          "blocking sockets have no O_NONBLOCK", "flags %x %x", fcntl(c, F_GETFL),
          fcntl(s, F_GETFL));
    close(c);
    close(s);
  }

  return NULL;
}

/* ---- 4. O_NONBLOCK toggled at run time ---- */

struct late_send {
  int fd;
  const char* msg;
};

static void* send_later(void* p) {
  struct late_send* l = (struct late_send*)p;
  usleep(30000);
  if (send(l->fd, l->msg, strlen(l->msg), 0) != (ssize_t)strlen(l->msg)) g_failures++;
  return NULL;
}

static void* toggle_checks(void* unused) {
  (void)unused;
  char buf[64];
  size_t cap = v_len / 64;
  int c, s;
  tcp_pair(&c, &s);

  /* fcntl F_SETFL O_NONBLOCK */
  int fl = fcntl(c, F_GETFL);
  SHOW("fcntl F_SETFL O_NONBLOCK", fcntl(c, F_SETFL, fl | O_NONBLOCK));
  EXPECT_ERR("recv with O_NONBLOCK set by fcntl: EAGAIN", recv(c, buf, cap, 0), EAGAIN);
  EXPECT_ERR("read with O_NONBLOCK set by fcntl: EAGAIN", read(c, buf, cap), EAGAIN);
  SHOW("fcntl F_SETFL without O_NONBLOCK", fcntl(c, F_SETFL, fl & ~O_NONBLOCK));
  struct late_send ls = {s, "after-fcntl"};
  pthread_t t;
  pthread_create(&t, NULL, send_later, &ls);
  ssize_t r = recv(c, buf, cap, 0);
  CHECK(r == 11 && memcmp(buf, "after-fcntl", 11) == 0,
        "recv blocks for data after O_NONBLOCK is cleared by fcntl", "ret=%zd errno=%s", r,
        errname(errno));
  pthread_join(t, NULL);

  /* ioctl FIONBIO */
  int on = 1, off = 0;
  SHOW("ioctl FIONBIO 1", ioctl(c, FIONBIO, &on));
  CHECK((fcntl(c, F_GETFL) & O_NONBLOCK) != 0, "FIONBIO shows in F_GETFL", "no");
  EXPECT_ERR("recv with FIONBIO set: EAGAIN", recv(c, buf, cap, 0), EAGAIN);
  SHOW("ioctl FIONBIO 0", ioctl(c, FIONBIO, &off));
  ls.msg = "after-ioctl";
  pthread_create(&t, NULL, send_later, &ls);
  r = read(c, buf, cap);
  CHECK(r == 11 && memcmp(buf, "after-ioctl", 11) == 0,
        "read blocks for data after FIONBIO is cleared", "ret=%zd errno=%s", r, errname(errno));
  pthread_join(t, NULL);

  /* a dup shares the file's O_NONBLOCK */
  int d = dup(c);
  SHOW("ioctl FIONBIO 1 on the dup", ioctl(d, FIONBIO, &on));
  EXPECT_ERR("recv on the original after FIONBIO on its dup: EAGAIN", recv(c, buf, cap, 0), EAGAIN);
  ioctl(d, FIONBIO, &off);
  close(d);

  /* O_NONBLOCK set on a copy received through SCM_RIGHTS */
  {
    int u[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, u);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec io = {(void*)"F", 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr* cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c, sizeof(int));
    SHOW("sendmsg SCM_RIGHTS", sendmsg(u[0], &m, 0));
    char one;
    struct iovec rio = {&one, 1};
    char rbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr rm;
    memset(&rm, 0, sizeof rm);
    rm.msg_iov = &rio;
    rm.msg_iovlen = 1;
    rm.msg_control = rbuf;
    rm.msg_controllen = sizeof rbuf;
    SHOW("recvmsg SCM_RIGHTS", recvmsg(u[1], &rm, 0));
    int passed = -1;
    struct cmsghdr* rc = CMSG_FIRSTHDR(&rm);
    if (rc && rc->cmsg_type == SCM_RIGHTS) memcpy(&passed, CMSG_DATA(rc), sizeof(int));
    CHECK(passed >= 0, "received a descriptor", "none");
    int fl2 = fcntl(passed, F_GETFL);
    fcntl(passed, F_SETFL, fl2 | O_NONBLOCK);
    EXPECT_ERR("recv on the original after O_NONBLOCK on its passed copy: EAGAIN",
               recv(c, buf, cap, 0), EAGAIN);
    fcntl(passed, F_SETFL, fl2);
    close(passed);
    close(u[0]);
    close(u[1]);
  }

  /* shutdown(SHUT_WR): the peer reads what was sent, then EOF */
  if (send(c, "last", 4, 0) != 4) g_failures++;
  SHOW("shutdown SHUT_WR", shutdown(c, SHUT_WR));
  EXPECT_ERR("send after shutdown SHUT_WR: EPIPE", send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
  r = read_full(s, buf, cap);
  CHECK(r == 4 && memcmp(buf, "last", 4) == 0, "peer reads the data then EOF after SHUT_WR",
        "ret=%zd", r);
  /* the other direction still works */
  if (send(s, "back", 4, 0) != 4) g_failures++;
  SHOW("recv in the direction still open", recv(c, buf, cap, 0));
  SHOW("shutdown SHUT_RDWR", shutdown(s, SHUT_RDWR));
  SHOW("recv after the peer's SHUT_RDWR (EOF)", recv(c, buf, cap, 0));
  int pfd[2];
  if (pipe(pfd) != 0) exit(2);
  EXPECT_ERR("shutdown of a pipe: ENOTSOCK", shutdown(pfd[0], SHUT_WR), ENOTSOCK);
  close(pfd[0]);
  close(pfd[1]);
  close(c);
  close(s);
  return NULL;
}

/* ---- 5. timeouts and wake-ups of blocked calls ---- */

static int g_lfd, g_rfd;
static void* accept_until_shutdown(void* p) {
  (void)p;
  int r = accept(g_lfd, NULL, NULL);
  int e = errno;
  printf("accept woken by shutdown of the listener: ret=%d errno=%s\n", r < 0 ? -1 : 0,
         r < 0 ? errname(e) : "0");
  return NULL;
}
static void* recv_until_shutdown(void* p) {
  (void)p;
  char b[8];
  ssize_t r = recv(g_rfd, b, sizeof b, 0);
  printf("recv woken by shutdown(SHUT_RD) from another thread: ret=%zd\n", r);
  return NULL;
}

static void* drain_all(void* p) {
  int fd = (int)(intptr_t)p;
  char b[65536];
  long got = 0;
  ssize_t r;
  while ((r = read(fd, b, sizeof b)) > 0) got += r;
  return (void*)(intptr_t)got;
}

static void* timeout_checks(void* unused) {
  (void)unused;
  char buf[128];
  uint16_t port;
  pthread_t t;

  g_lfd = tcp_listener(&port);
  pthread_create(&t, NULL, accept_until_shutdown, NULL);
  usleep(20000);
  shutdown(g_lfd, SHUT_RDWR);
  pthread_join(t, NULL);
  close(g_lfd);

  int c, s;
  tcp_pair(&c, &s);
  g_rfd = c;
  pthread_create(&t, NULL, recv_until_shutdown, NULL);
  usleep(20000);
  shutdown(c, SHUT_RD);
  pthread_join(t, NULL);

  /* MSG_WAITALL with SO_RCVTIMEO returns what arrived */
  struct timeval tv = {0, 100000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (send(c, "0123456789", 10, 0) != 10) g_failures++;
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  size_t cap = v_len / 40;
  ssize_t r = recv(s, buf, cap, MSG_WAITALL);
  SHOW("recv MSG_WAITALL of 102 with SO_RCVTIMEO and 10 bytes sent", r);
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 99000000, "MSG_WAITALL waited for the timeout", "early");

  /* SO_SNDTIMEO on a send that fills the buffers: a partial count */
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  size_t big = 16u << 20;
  char* bb = (char*)calloc(1, big);
  t0 = now_ns(CLOCK_MONOTONIC);
  r = send(c, bb, big, 0);
  CHECK(r > 0 && (size_t)r < big, "a 16MiB send nobody reads, SO_SNDTIMEO 100ms: partial count",
        "ret=%zd errno=%s", r, errname(errno));
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 99000000, "... after the timeout", "early");
  int err = 0;
  for (int i = 0; i < 20 && !err; i++)
    if (send(c, bb, big, 0) < 0) err = errno;
  CHECK(err == EAGAIN, "sends into full buffers with SO_SNDTIMEO end with EAGAIN", "errno=%s",
        errname(err));
  free(bb);
  close(c);
  close(s);

  /* connect to a listener whose backlog is full, with SO_SNDTIMEO */
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(0);
  bind(l, (struct sockaddr*)&a, sizeof a);
  listen(l, 0);
  socklen_t alen = sizeof a;
  getsockname(l, (struct sockaddr*)&a, &alen);
  int fds[10], n = 0;
  err = 0;
  int64_t took = 0;
  for (n = 0; n < 10; n++) {
    fds[n] = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fds[n], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    t0 = now_ns(CLOCK_MONOTONIC);
    if (connect(fds[n], (struct sockaddr*)&a, sizeof a) != 0) {
      err = errno;
      took = now_ns(CLOCK_MONOTONIC) - t0;
      n++;
      break;
    }
  }
  CHECK(err == EINPROGRESS && took >= 99000000,
        "connect to a full backlog with SO_SNDTIMEO 100ms: EINPROGRESS after the timeout",
        "errno=%s after %lld ns", errname(err), (long long)took);
  for (int i = 0; i < n; i++) close(fds[i]);
  close(l);

  /* MSG_WAITALL through recvmsg and recvfrom-with-address, and with
     MSG_PEEK: 30 bytes now, 70 more from another thread later */
  {
    static const char seventy[] =
        "0123456789012345678901234567890123456789012345678901234567890123456789";
    struct late_send ls;
    int c2, s2;
    tcp_pair(&c2, &s2);
    char big100[100];
    size_t hundred = v_len / 40 - 2; /* 100, unknown to the compiler */

    if (send(c2, "abcdefghijklmnopqrstuvwxyz0123", 30, 0) != 30) g_failures++;
    ls = (struct late_send){c2, seventy};
    pthread_create(&t, NULL, send_later, &ls);
    struct iovec riov[2] = {{big100, 64}, {big100 + 64, 36}};
    struct msghdr rmsg;
    memset(&rmsg, 0, sizeof rmsg);
    rmsg.msg_iov = riov;
    rmsg.msg_iovlen = 2;
    r = recvmsg(s2, &rmsg, MSG_WAITALL);
    CHECK(r == 100 && memcmp(big100 + 30, seventy, 70) == 0,
          "recvmsg MSG_WAITALL into 64+36 bytes waits for all 100", "ret=%zd", r);
    pthread_join(t, NULL);

    if (send(c2, "abcdefghijklmnopqrstuvwxyz0123", 30, 0) != 30) g_failures++;
    pthread_create(&t, NULL, send_later, &ls);
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    r = recvfrom(s2, big100, hundred, MSG_WAITALL, (struct sockaddr*)&from, &flen);
    printf("recvfrom MSG_WAITALL with an address on TCP: ret=%zd addrlen=%u\n", r, (unsigned)flen);
    pthread_join(t, NULL);

    if (send(c2, "abcdefghijklmnopqrstuvwxyz0123", 30, 0) != 30) g_failures++;
    pthread_create(&t, NULL, send_later, &ls);
    SHOW("recv MSG_PEEK|MSG_WAITALL of 100 (30 now, 70 later)", recv(s2, big100, hundred, MSG_PEEK | MSG_WAITALL));
    pthread_join(t, NULL);
    SHOW("recv after the peek", recv(s2, big100, hundred, MSG_WAITALL));

    /* sendto with an address on a TCP socket: ignored; all is written */
    size_t eight = 8u << 20;
    char* eb = (char*)calloc(1, eight);
    pthread_create(&t, NULL, drain_all, (void*)(intptr_t)s2);
    struct sockaddr_in nowhere = loopback(1);
    r = sendto(c2, eb, eight, 0, (struct sockaddr*)&nowhere, sizeof nowhere);
    SHOW("sendto of 8MiB with an address on TCP", r);
    shutdown(c2, SHUT_WR);
    void* drained;
    pthread_join(t, &drained);
    printf("the peer read %ld bytes\n", (long)(intptr_t)drained);
    free(eb);

    /* a negative SO_RCVTIMEO is a zero timeout: EAGAIN at once */
    struct timeval neg = {-1, 0};
    SHOW("setsockopt SO_RCVTIMEO {-1, 0}", setsockopt(c2, SOL_SOCKET, SO_RCVTIMEO, &neg, sizeof neg));
    t0 = now_ns(CLOCK_MONOTONIC);
    EXPECT_ERR("recv with a negative SO_RCVTIMEO: EAGAIN", recv(c2, big100, hundred, 0), EAGAIN);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 5000000000LL, "... at once", "waited");
    close(c2);
    close(s2);
  }

  /* UDP: MSG_TRUNC, MSG_PEEK, recvmmsg/sendmmsg */
  uint16_t up;
  int u1 = udp_socket(&up), u2 = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ua = loopback(up);
  connect(u2, (struct sockaddr*)&ua, sizeof ua);
  if (send(u2, "123456789", 9, 0) != 9) g_failures++;
  SHOW("UDP recv MSG_TRUNC of 9 bytes into 4", recv(u1, buf, 4, MSG_TRUNC));
  if (send(u2, "abc", 3, 0) != 3) g_failures++;
  SHOW("UDP recv MSG_PEEK", recv(u1, buf, cap, MSG_PEEK));
  SHOW("UDP recv after the peek", recv(u1, buf, cap, 0));
  struct mmsghdr mm[3];
  struct iovec io[3];
  char m0[] = "first", m1[] = "second!", m2[] = "3";
  char* msgs[3] = {m0, m1, m2};
  memset(mm, 0, sizeof mm);
  for (int i = 0; i < 3; i++) {
    io[i].iov_base = msgs[i];
    io[i].iov_len = strlen(msgs[i]);
    mm[i].msg_hdr.msg_iov = &io[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  SHOW("sendmmsg of 3 datagrams", sendmmsg(u2, mm, 3, 0));
  char rb[3][16];
  struct iovec rio[3];
  struct mmsghdr rm[3];
  memset(rm, 0, sizeof rm);
  for (int i = 0; i < 3; i++) {
    rio[i].iov_base = rb[i];
    rio[i].iov_len = sizeof rb[i];
    rm[i].msg_hdr.msg_iov = &rio[i];
    rm[i].msg_hdr.msg_iovlen = 1;
  }
  int got = recvmmsg(u1, rm, 3, 0, NULL);
  printf("recvmmsg of 3: ret=%d lengths %u %u %u\n", got, rm[0].msg_len, rm[1].msg_len, rm[2].msg_len);
  /* with a timeout (only looked at after each datagram, recvmmsg(2)
     BUGS): the datagram another thread sends later is waited for, and the
     time left is written back */
  struct late_send dl = {u2, "late"};
  pthread_create(&t, NULL, send_later, &dl);
  struct timespec mto = {5, 0};
  got = recvmmsg(u1, rm, 1, 0, &mto);
  pthread_join(t, NULL);
  printf("recvmmsg of 1 with a 5s timeout, sent 30ms later: ret=%d len %u\n", got, rm[0].msg_len);
  CHECK(mto.tv_sec >= 3 && mto.tv_sec < 5, "recvmmsg wrote back the time left", "%ld.%09ld",
        (long)mto.tv_sec, (long)mto.tv_nsec);
  struct timespec badto = {0, 1000000000};
  EXPECT_ERR("recvmmsg with tv_nsec=1e9: EINVAL", recvmmsg(u1, rm, 3, 0, &badto), EINVAL);

  /* a connected UDP socket learns of a closed port (ICMP): ECONNREFUSED */
  uint16_t closed_port;
  int gone = udp_socket(&closed_port);
  close(gone);
  int cu = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ca = loopback(closed_port);
  connect(cu, (struct sockaddr*)&ca, sizeof ca);
  SHOW("UDP send to a closed port", send(cu, "x", 1, 0));
  EXPECT_ERR("UDP recv after it: ECONNREFUSED", recv(cu, buf, cap, 0), ECONNREFUSED);
  EXPECT_ERR("recv MSG_ERRQUEUE with an empty error queue: EAGAIN (never blocks)", recv(cu, buf, cap, MSG_ERRQUEUE), EAGAIN);
  close(cu);
  close(u1);
  close(u2);

  /* TCP: MSG_ERRQUEUE and MSG_OOB never block; a non-blocking connect */
  {
    int c3, s3;
    tcp_pair(&c3, &s3);
    EXPECT_ERR("TCP recv MSG_ERRQUEUE: EAGAIN", recv(c3, buf, cap, MSG_ERRQUEUE), EAGAIN);
    struct msghdr em;
    struct iovec eio = {buf, cap};
    memset(&em, 0, sizeof em);
    em.msg_iov = &eio;
    em.msg_iovlen = 1;
    EXPECT_ERR("TCP recvmsg MSG_ERRQUEUE: EAGAIN", recvmsg(c3, &em, MSG_ERRQUEUE), EAGAIN);
    EXPECT_ERR("TCP recv MSG_OOB without urgent data: EINVAL", recv(c3, buf, cap, MSG_OOB), EINVAL);
    close(c3);
    close(s3);
    uint16_t lp;
    int l3 = tcp_listener(&lp);
    int n3 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in la = loopback(lp);
    EXPECT_ERR("non-blocking connect: EINPROGRESS", connect(n3, (struct sockaddr*)&la, sizeof la), EINPROGRESS);
    struct pollfd pf = {n3, POLLOUT, 0};
    SHOW("poll POLLOUT for the connection", poll(&pf, 1, 10000));
    int soerr = -1;
    socklen_t sl = sizeof soerr;
    getsockopt(n3, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    printf("SO_ERROR after it: %s\n", errname(soerr));
    close(n3);
    close(l3);
  }
  return NULL;
}

/* ---- 6. a blocked accept and connect across threads ---- */

static void* connect_later(void* p) {
  uint16_t port = (uint16_t)(uintptr_t)p;
  usleep(20000);
  int fd = tcp_connect(port);
  if (fd >= 0) {
    if (send(fd, "hi", 2, 0) != 2) g_failures++;
    close(fd);
  }
  return NULL;
}

static void* accept_checks(void* unused) {
  (void)unused;
  uint16_t port;
  int l = tcp_listener(&port);
  pthread_t t;
  pthread_create(&t, NULL, connect_later, (void*)(uintptr_t)port);
  int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  CHECK(fd >= 0, "blocking accept4 gets the connection made later", "errno=%s", errname(errno));
  CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "accept4 SOCK_CLOEXEC", "no");
  char buf[8];
  ssize_t r = read_full(fd, buf, sizeof buf);
  CHECK(r == 2 && memcmp(buf, "hi", 2) == 0, "accepted connection data then EOF", "ret=%zd", r);
  pthread_join(t, NULL);
  close(fd);
  EXPECT_ERR("accept on a non-listening socket: EINVAL", accept(fd = socket(AF_INET, SOCK_STREAM, 0), NULL, NULL), EINVAL);
  close(fd);
  EXPECT_ERR("accept on a closed fd: EBADF", accept(fd, NULL, NULL), EBADF);
  close(l);
  return NULL;
}

static void run_in_thread(void* (*fn)(void*)) {
  pthread_t t;
  pthread_create(&t, NULL, fn, NULL);
  pthread_join(t, NULL);
}

int main(void) {
  test_start();
  test_server();
  test_udp();
  run_in_thread(error_checks);
  run_in_thread(toggle_checks);
  run_in_thread(accept_checks);
  run_in_thread(timeout_checks);
  return test_end();
}
