// SPDX-License-Identifier: MIT
/* A parallel fetch job with a pool: 64 pages over HTTP/1.0 from a small
 * server on loopback, at most 8 fetches at once (gh_pool_map keeps the
 * results in input order), then the same pages again with
 * gh_pool_map_unordered, results as they finish. Plain blocking sockets:
 * linked with libgreenhouse, each fetch and each server connection is a
 * green thread, and a blocked connect/read parks only its own. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <greenhouse.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAGES 64
#define AT_ONCE 8

static int g_port;
static atomic_int g_serving, g_most; /* requests in progress at the server */

/* Page n: n+1 lines of text. */
static size_t page_body(int n, char* buf, size_t room) {
  size_t len = 0;
  for (int i = 0; i <= n && len + 64 < room; i++)
    len += (size_t)snprintf(buf + len, room - len, "page %d line %d\n", n, i);
  return len;
}

static void* serve(void* arg) {
  int fd = (int)(intptr_t)arg;
  char req[256];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof req - 1 && (r = read(fd, req + got, sizeof req - 1 - got)) > 0) {
    got += (size_t)r;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  int n = -1;
  int now = atomic_fetch_add(&g_serving, 1) + 1;
  for (int m = atomic_load(&g_most); now > m && !atomic_compare_exchange_weak(&g_most, &m, now);) {
  }
  gh_sleep(2 * 1000 * 1000); /* the page takes a while to make */
  char body[8192], head[128];
  if (sscanf(req, "GET /page/%d ", &n) == 1 && n >= 0 && n < PAGES) {
    size_t len = page_body(n, body, sizeof body);
    int h = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
    if (write(fd, head, (size_t)h) != h || write(fd, body, len) != (ssize_t)len) perror("write");
  } else {
    const char* nf = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    if (write(fd, nf, strlen(nf)) < 0) perror("write");
  }
  atomic_fetch_sub(&g_serving, 1);
  close(fd);
  return NULL;
}

static void* accept_loop(void* arg) {
  int listener = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) return NULL; /* the listener was shut down */
    gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
    o.detached = 1;
    o.name = "serve";
    gh_thread_t t;
    if (gh_spawn(&t, serve, (void*)(intptr_t)fd, &o) != 0) close(fd);
  }
}

struct page {
  int status;
  size_t length;
  uint64_t sum;
};

/* Fetches /page/N with a plain blocking HTTP/1.0 request. */
static void* fetch(void* arg) {
  int n = (int)(intptr_t)arg;
  struct page* p = calloc(1, sizeof *p);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!p || fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return p;
  }
  char req[64];
  int len = snprintf(req, sizeof req, "GET /page/%d HTTP/1.0\r\n\r\n", n);
  if (write(fd, req, (size_t)len) != len) {
    close(fd);
    return p;
  }
  char buf[16384];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf && (r = read(fd, buf + got, sizeof buf - got)) > 0) got += (size_t)r;
  close(fd);
  char* body = memmem(buf, got, "\r\n\r\n", 4);
  if (!body || sscanf(buf, "HTTP/1.0 %d", &p->status) != 1) return p;
  body += 4;
  p->length = got - (size_t)(body - buf);
  for (size_t i = 0; i < p->length; i++) p->sum = p->sum * 131 + (unsigned char)body[i];
  return p;
}

static int g_seen[PAGES];
static void arrived(void* ctx, size_t i, void* result) {
  (void)ctx;
  struct page* p = result;
  if (p && p->status == 200) g_seen[i]++;
  free(p);
}

int main(void) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(listener, (struct sockaddr*)&a, sizeof a) != 0 || listen(listener, 128) != 0 ||
      getsockname(listener, (struct sockaddr*)&a, &alen) != 0) {
    perror("listen");
    return 1;
  }
  g_port = ntohs(a.sin_port);
  gh_thread_t server;
  gh_spawn_opts so = GH_SPAWN_OPTS_INIT;
  so.name = "accept";
  if (gh_spawn(&server, accept_loop, (void*)(intptr_t)listener, &so) != 0) return 1;

  gh_pool_t* pool = gh_pool_new(AT_ONCE);
  void* in[PAGES];
  void* out[PAGES];
  for (int i = 0; i < PAGES; i++) in[i] = (void*)(intptr_t)i;
  int rc = gh_pool_map(pool, fetch, in, out, PAGES);
  int failures = rc != 0;
  size_t bytes = 0;
  uint64_t sum = 0;
  char expect[8192];
  for (int i = 0; i < PAGES; i++) {
    struct page* p = out[i];
    size_t want = page_body(i, expect, sizeof expect);
    if (!p || p->status != 200 || p->length != want) {
      printf("page %d: FAILED\n", i);
      failures++;
    } else {
      bytes += p->length;
      sum = sum * 31 + p->sum;
    }
    free(p);
  }
  printf("fetched %d pages in order, %zu bytes, checksum %016llx\n", PAGES, bytes,
         (unsigned long long)sum);
  int most = atomic_load(&g_most);
  printf("never more than %d at once: %s\n", AT_ONCE, most <= AT_ONCE ? "ok" : "FAILED");
  failures += most > AT_ONCE;

  rc = gh_pool_map_unordered(pool, fetch, in, PAGES, arrived, NULL);
  int once = rc == 0;
  for (int i = 0; i < PAGES; i++) once &= g_seen[i] == 1;
  printf("unordered: every page exactly once: %s\n", once ? "ok" : "FAILED");
  failures += !once;
  gh_pool_free(pool);

  shutdown(listener, SHUT_RDWR); /* ends the accept loop */
  gh_join(server, NULL);
  close(listener);
  return failures ? 1 : 0;
}
