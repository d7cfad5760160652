// SPDX-License-Identifier: MIT
/* Name resolution from threads, on names /etc/hosts or numeric forms answer
 * (no network): getaddrinfo, getnameinfo, gethostbyname(_r), and their
 * errors. The calls run concurrently in several threads. */
#include "common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

static void describe(const char* label, const char* node, const char* service, int flags,
                     int family) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  int rc = getaddrinfo(node, service, &hints, &res);
  printf("%s: %s", label, rc == 0 ? "ok" : gai_strerror(rc));
  for (struct addrinfo* a = res; a; a = a->ai_next) {
    char host[64], serv[16];
    getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, serv, sizeof serv,
                NI_NUMERICHOST | NI_NUMERICSERV);
    printf(" [%s %s %s]", a->ai_family == AF_INET ? "inet" : a->ai_family == AF_INET6 ? "inet6" : "?",
           host, serv);
  }
  printf("\n");
  if (res) freeaddrinfo(res);
}

static struct gate g_go;

static void* resolver(void* p) {
  intptr_t i = (intptr_t)p;
  int ok = 0;
  gate_wait(&g_go);
  for (int k = 0; k < 20; k++) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("localhost", k % 2 ? "8080" : "http", &hints, &res) == 0) {
      struct sockaddr_in* sin = (struct sockaddr_in*)res->ai_addr;
      if (sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
          ntohs(sin->sin_port) == (k % 2 ? 8080 : 80))
        ok++;
      freeaddrinfo(res);
    }
  }
  return (void*)(i * 1000 + ok);
}

int main(void) {
  test_start();
  pthread_t t[8];
  gate_init(&g_go);
  for (intptr_t i = 0; i < 8; i++) pthread_create(&t[i], NULL, resolver, (void*)i);
  tasks_sample(); /* before any lookup: the offload pool's threads are not ours */
  gate_open(&g_go, 8);
  for (int i = 0; i < 8; i++) {
    void* v;
    pthread_join(t[i], &v);
    printf("thread %d: %ld of 20 lookups of localhost right\n", i, (long)(intptr_t)v % 1000);
  }

  describe("getaddrinfo 127.0.0.1:80 numeric", "127.0.0.1", "80", AI_NUMERICHOST | AI_NUMERICSERV, AF_UNSPEC);
  describe("getaddrinfo localhost:http inet", "localhost", "http", 0, AF_INET);
  describe("getaddrinfo NULL:9000 passive inet", NULL, "9000", AI_PASSIVE, AF_INET);
  describe("getaddrinfo 999.1.1.1 numeric", "999.1.1.1", "80", AI_NUMERICHOST, AF_UNSPEC);
  describe("getaddrinfo with neither node nor service", NULL, NULL, 0, AF_UNSPEC);
  describe("getaddrinfo unknown service name", "127.0.0.1", "no-such-service-name", AI_NUMERICHOST, AF_INET);

  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(22);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char host[64], serv[32];
  int rc = getnameinfo((struct sockaddr*)&sin, sizeof sin, host, sizeof host, serv, sizeof serv,
                       NI_NUMERICHOST | NI_NUMERICSERV);
  printf("getnameinfo 127.0.0.1:22 numeric: %s %s %s\n", rc == 0 ? "ok" : gai_strerror(rc), host, serv);
  rc = getnameinfo((struct sockaddr*)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD);
  printf("getnameinfo 127.0.0.1 name: %s %s\n", rc == 0 ? "ok" : gai_strerror(rc), rc == 0 ? host : "");
  rc = getnameinfo((struct sockaddr*)&sin, 3, host, sizeof host, NULL, 0, 0);
  printf("getnameinfo with a short address: %s\n", rc == 0 ? "ok" : gai_strerror(rc));

  struct hostent* h = gethostbyname("localhost");
  printf("gethostbyname localhost: %s", h ? h->h_name : "NULL");
  if (h && h->h_addr_list[0]) printf(" %s", inet_ntoa(*(struct in_addr*)h->h_addr_list[0]));
  printf("\n");
  struct hostent he, *hp = NULL;
  char buf[1024];
  int herr = 0;
  rc = gethostbyname_r("127.0.0.1", &he, buf, sizeof buf, &hp, &herr);
  printf("gethostbyname_r 127.0.0.1: rc=%d %s\n", rc, hp ? hp->h_name : "NULL");
  rc = gethostbyname_r("localhost", &he, buf, 8, &hp, &herr);
  printf("gethostbyname_r with an 8-byte buffer: rc=%s\n", errname(rc));
  return test_end();
}
