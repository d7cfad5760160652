// SPDX-License-Identifier: MIT
/* Many connections at once: N client threads and N server threads (one per
 * connection) over loopback TCP, every byte checksummed, plus connection
 * churn (short connections opened and closed) and peers that reset. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#define N 1000
#define BYTES (64u << 10)

static uint16_t g_port;
static int g_lfd;
static uint64_t g_client_ok[N];
static int g_server_ok[N];

static void* server_conn(void* p) {
  int fd = (int)(intptr_t)p;
  uint32_t id;
  if (read_full(fd, &id, sizeof id) != (ssize_t)sizeof id || id >= N) {
    close(fd);
    return NULL;
  }
  /* echo everything back, transformed, in odd-sized pieces */
  unsigned char buf[3000];
  size_t total = 0;
  uint64_t h = FNV_INIT;
  while (total < BYTES) {
    size_t want = BYTES - total < sizeof buf ? BYTES - total : sizeof buf;
    ssize_t r = read(fd, buf, want);
    if (r <= 0) break;
    h = fnv1a(h, buf, (size_t)r);
    for (ssize_t i = 0; i < r; i++) buf[i] ^= 0x5a;
    if (write(fd, buf, (size_t)r) != r) break;
    total += (size_t)r;
  }
  unsigned char want_buf[BYTES];
  pattern_fill(id, 0, want_buf, BYTES);
  g_server_ok[id] = total == BYTES && h == fnv1a(FNV_INIT, want_buf, BYTES);
  close(fd);
  return NULL;
}

static void* acceptor(void* p) {
  (void)p;
  static pthread_t t[N];
  int n = 0;
  for (; n < N; n++) {
    int fd = accept(g_lfd, NULL, NULL);
    if (fd < 0) break;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 << 10);
    if (pthread_create(&t[n], &a, server_conn, (void*)(intptr_t)fd) != 0) {
      close(fd);
      break;
    }
    pthread_attr_destroy(&a);
  }
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  return (void*)(intptr_t)n;
}

static struct gate g_start;

/* Writes its data and reads the echo at the same time (a reader thread),
 * so that neither side's buffers fill up against the other. */
struct client_io {
  int fd;
  uint32_t id;
  uint64_t sum;
  size_t got;
};

static void* client_reader(void* p) {
  struct client_io* c = (struct client_io*)p;
  unsigned char buf[5000];
  uint64_t h = FNV_INIT;
  size_t got = 0;
  while (got < BYTES) {
    ssize_t r = read(c->fd, buf, sizeof buf);
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++) buf[i] ^= 0x5a;
    h = fnv1a(h, buf, (size_t)r);
    got += (size_t)r;
  }
  c->sum = h;
  c->got = got;
  return NULL;
}

static void* client(void* p) {
  uint32_t id = (uint32_t)(uintptr_t)p;
  gate_wait(&g_start);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    close(fd);
    return NULL;
  }
  struct client_io io = {fd, id, 0, 0};
  pthread_t r;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 64 << 10);
  pthread_create(&r, &at, client_reader, &io);
  pthread_attr_destroy(&at);
  unsigned char* data = (unsigned char*)malloc(BYTES);
  pattern_fill(id, 0, data, BYTES);
  int ok = write(fd, &id, sizeof id) == (ssize_t)sizeof id &&
           write(fd, data, BYTES) == (ssize_t)BYTES;
  pthread_join(r, NULL);
  g_client_ok[id] = ok && io.got == BYTES && io.sum == fnv1a(FNV_INIT, data, BYTES);
  free(data);
  close(fd);
  return NULL;
}

/* Churn: short connections, half of them reset by the server. */
#define CHURN 300
static int g_churn_ok;

static void* churn_server(void* p) {
  int l = (int)(intptr_t)p;
  for (int i = 0; i < CHURN; i++) {
    int fd = accept(l, NULL, NULL);
    if (fd < 0) break;
    char c;
    if (read(fd, &c, 1) == 1) {
      if (i % 2) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      } else if (write(fd, "k", 1) != 1) {
        g_failures++;
      }
    }
    close(fd);
  }
  return NULL;
}

static void check_churn(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(l, (struct sockaddr*)&a, sizeof a);
  listen(l, 128);
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr*)&a, &len);
  pthread_t s;
  pthread_create(&s, NULL, churn_server, (void*)(intptr_t)l);
  int resets = 0, replies = 0;
  for (int i = 0; i < CHURN; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
      close(fd);
      continue;
    }
    if (write(fd, "q", 1) != 1) g_failures++;
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r == 1 && c == 'k') replies++;
    else if (r < 0 && errno == ECONNRESET) resets++;
    close(fd);
  }
  pthread_join(s, NULL);
  close(l);
  printf("churn: %d connections, %d replies, %d resets\n", CHURN, replies, resets);
  g_churn_ok = replies == CHURN / 2 && resets == CHURN / 2;
  if (!g_churn_ok) g_failures++;
}

int main(void) {
  test_start();
  g_lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(g_lfd, (struct sockaddr*)&a, sizeof a) != 0 || listen(g_lfd, 4096) != 0) return 2;
  socklen_t len = sizeof a;
  getsockname(g_lfd, (struct sockaddr*)&a, &len);
  g_port = ntohs(a.sin_port);
  gate_init(&g_start);
  pthread_t acc;
  pthread_create(&acc, NULL, acceptor, NULL);
  static pthread_t c[N];
  int created = 0;
  for (int i = 0; i < N; i++) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 128 << 10);
    if (pthread_create(&c[i], &at, client, (void*)(uintptr_t)i) == 0) created++;
    pthread_attr_destroy(&at);
  }
  tasks_sample();
  gate_open(&g_start, created);
  for (int i = 0; i < created; i++) pthread_join(c[i], NULL);
  void* served;
  pthread_join(acc, &served);
  int cok = 0, sok = 0;
  for (int i = 0; i < N; i++) {
    cok += g_client_ok[i] != 0;
    sok += g_server_ok[i];
  }
  printf("%d clients created, %ld connections served\n", created, (long)(intptr_t)served);
  printf("clients with their 64 KiB echoed intact: %d\n", cok);
  printf("servers that received 64 KiB intact: %d\n", sok);
  if (cok != N || sok != N) g_failures++;
  check_churn();
  return test_end();
}
