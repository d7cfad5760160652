// SPDX-License-Identifier: MIT
/* Datagram sockets where poll and a non-blocking call disagree, and only the
 * blocking call knows the answer:
 *  - shut down for reading (another thread's shutdown(SHUT_RD), the usual way
 *    to stop a receiver thread): poll reports POLLIN, a MSG_DONTWAIT receive
 *    EAGAIN, a blocking receive returns 0 (recvmmsg: one empty message). Each
 *    receive call, on UDP and on a Unix datagram socket;
 *  - an unconnected Unix datagram sender whose receiver's queue is full: poll
 *    reports POLLOUT, a MSG_DONTWAIT sendto EAGAIN, a blocking sendto waits
 *    for room. The sender must sleep meanwhile, not spin. */
#include "common.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

enum { kRecv, kRecvfromNull, kRecvfromAddr, kRecvmsg, kRecvmmsg, kRead, kKinds };
static const char* const kNames[kKinds] = {
    "recv", "recvfrom without address", "recvfrom with address", "recvmsg", "recvmmsg", "read"};

struct reader {
  int fd, kind;
  long ret;
  int err;
};

static void* receive(void* arg) {
  struct reader* r = arg;
  char b[64];
  struct sockaddr_storage from;
  socklen_t fl = sizeof from;
  struct iovec v = {b, sizeof b};
  struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &v, .msg_iovlen = 1};
  struct mmsghdr mm = {.msg_hdr = m};
  switch (r->kind) {
    case kRecv:
      r->ret = recv(r->fd, b, sizeof b, 0);
      break;
    case kRecvfromNull:
      r->ret = recvfrom(r->fd, b, sizeof b, 0, NULL, NULL);
      break;
    case kRecvfromAddr:
      r->ret = recvfrom(r->fd, b, sizeof b, 0, (struct sockaddr*)&from, &fl);
      break;
    case kRecvmsg:
      r->ret = recvmsg(r->fd, &m, 0);
      break;
    case kRecvmmsg:
      r->ret = recvmmsg(r->fd, &mm, 1, 0, NULL);
      if (r->ret == 1) r->ret = 100 + mm.msg_len; /* one message of msg_len bytes */
      break;
    case kRead:
      r->ret = read(r->fd, b, sizeof b);
      break;
  }
  r->err = errno;
  return NULL;
}

static int udp_socket(void) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0) exit(2);
  return s;
}

static int g_peer = -1; /* the other end of the last Unix pair */

static int unix_socket(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) exit(2);
  g_peer = sv[1];
  return sv[0];
}

static void shutdown_wakes(const char* family, int (*make)(void)) {
  for (int kind = 0; kind < kKinds; kind++) {
    struct reader r = {make(), kind, 0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, receive, &r) != 0) exit(2);
    usleep(50000); /* most likely blocked by now; the answer is the same either way */
    shutdown(r.fd, SHUT_RD);
    pthread_join(t, NULL);
    printf("%s %s after shutdown(SHUT_RD): ret=%ld errno=%s\n", family, kNames[kind], r.ret,
           r.ret == -1 ? errname(r.err) : "0");
    close(r.fd);
    if (g_peer >= 0) close(g_peer);
    g_peer = -1;
  }
}

static struct sockaddr_un g_addr = {.sun_family = AF_UNIX};
static atomic_int g_sent;

static void* send_all(void* unused) {
  (void)unused;
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  char msg[100] = "x";
  for (int i = 0; i < 2000; i++) {
    if (sendto(s, msg, sizeof msg, 0, (struct sockaddr*)&g_addr, sizeof g_addr) != sizeof msg) {
      printf("sendto: FAIL (errno=%s)\n", errname(errno));
      g_failures++;
      break;
    }
    atomic_fetch_add(&g_sent, 1);
  }
  close(s);
  return NULL;
}

static long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

static void full_receiver(void) {
  snprintf(g_addr.sun_path, sizeof g_addr.sun_path, "/tmp/gh_dgram_wake.%d", (int)getpid());
  unlink(g_addr.sun_path);
  int r = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (r < 0 || bind(r, (struct sockaddr*)&g_addr, sizeof g_addr) != 0) exit(2);
  pthread_t t;
  if (pthread_create(&t, NULL, send_all, NULL) != 0) exit(2);
  /* The sender fills the queue, then blocks: its count stops moving. */
  int last = -1;
  for (;;) {
    usleep(20000);
    int now = atomic_load(&g_sent);
    if (now == last && now > 0) break;
    last = now;
  }
  /* Blocked, it must not burn the CPU: over a quarter of a second a
   * spinning sender uses most of it. */
  long before = cpu_us();
  usleep(250000);
  long used = cpu_us() - before;
  CHECK(used < 125000, "the sender sleeps while the receiver's queue is full", "%ld us of CPU",
        used);
  printf("sender blocked before all were sent: %s\n", atomic_load(&g_sent) < 2000 ? "yes" : "no");
  /* With SO_SNDTIMEO the blocked send gives up after it, with EAGAIN. */
  int s2 = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct timeval tmo = {0, 100000};
  setsockopt(s2, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
  char one[100] = "y";
  EXPECT_ERR("sendto to the full receiver with SO_SNDTIMEO",
             sendto(s2, one, sizeof one, 0, (struct sockaddr*)&g_addr, sizeof g_addr), EAGAIN);
  close(s2);
  int got = 0;
  char b[200];
  while (got < 2000) {
    ssize_t n = recv(r, b, sizeof b, 0);
    if (n != 100) {
      printf("recv: FAIL (ret=%zd errno=%s)\n", n, errname(errno));
      g_failures++;
      break;
    }
    got++;
  }
  pthread_join(t, NULL);
  printf("received %d, sent %d\n", got, atomic_load(&g_sent));
  close(r);
  unlink(g_addr.sun_path);
}

int main(void) {
  test_start();
  shutdown_wakes("udp", udp_socket);
  shutdown_wakes("unix", unix_socket);
  full_receiver();
  return test_end();
}
