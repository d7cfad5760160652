// SPDX-License-Identifier: MIT
/* A program linked with a replacement allocator (built twice: -ljemalloc
 * and -ltcmalloc) that runs threads and I/O. 16 threads in 8 pairs exchange
 * 200 checksummed blocks each (1 byte to 1 MiB) over pipes (even pairs) and
 * socketpairs (odd pairs); the receiver frees the sender's block (a free
 * from another thread) and the sender churns its own blocks meanwhile
 * (malloc/calloc/realloc/posix_memalign/aligned_alloc, contents verified
 * before each free). A mutex + condition variable protect a shared counter
 * and a start barrier; pthread_once, a key with a destructor and
 * pthread_self are used from every thread. Only timing-independent results
 * are printed: which allocator malloc resolves to, checksums, counts. */
#include "common.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/socket.h>

#define NTHREADS 16
#define NPAIRS (NTHREADS / 2)
#define ROUNDS 200
#define SLOTS 32

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_arrived;   /* threads at the start barrier */
static int g_go;        /* main lets them run */
static long g_rounds;   /* rounds done, all threads */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_once_runs;
static uint32_t* g_table; /* made by the once routine, read by all */

static pthread_key_t g_key;
static int g_dtor_runs;   /* atomic */
static int g_dtor_bad;    /* atomic */

struct per_thread {
  int index;
  char* buf; /* a malloc'ed block freed by the destructor */
};

static void key_dtor(void* p) {
  struct per_thread* pt = (struct per_thread*)p;
  for (int i = 0; i < 1000; i++)
    if (pt->buf[i] != (char)(pt->index + i)) {
      __atomic_add_fetch(&g_dtor_bad, 1, __ATOMIC_RELAXED);
      break;
    }
  free(pt->buf);
  free(pt);
  __atomic_add_fetch(&g_dtor_runs, 1, __ATOMIC_RELAXED);
}

static void once_init(void) {
  g_once_runs++;
  g_table = (uint32_t*)malloc(256 * sizeof *g_table);
  for (uint32_t i = 0; i < 256; i++) g_table[i] = i * 2654435761u;
}

/* Deterministic random numbers (splitmix64). */
static uint64_t rnd(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Block sizes: mostly small, some medium, a few up to 1 MiB. */
static size_t block_size(uint64_t* s) {
  uint64_t r = rnd(s);
  unsigned k = (unsigned)(r % 100);
  if (k < 70) return 1 + (size_t)((r >> 8) % 512);
  if (k < 95) return 512 + (size_t)((r >> 8) % 65536);
  return 65536 + (size_t)((r >> 8) % (1u << 20));
}

struct msg {
  uint64_t size;
  uint64_t sum;
  void* block; /* the sender's block, freed by the receiver */
};

struct worker {
  int index;
  pthread_t self;      /* pthread_self() as the thread saw it */
  int wfd, rfd;        /* to and from the partner */
  uint64_t sent_sum;   /* checksum over everything sent */
  uint64_t recv_sum;   /* over everything received */
  uint64_t sent_bytes, recv_bytes;
  int bad;             /* checksum, content or alignment errors */
  int self_ok, key_ok, once_ok;
};

struct slot {
  unsigned char* p;
  size_t n;
  unsigned char tag;
};

static void slot_fill(struct slot* s) {
  for (size_t i = 0; i < s->n; i++) s->p[i] = (unsigned char)(s->tag + i * 7);
}
static int slot_check(const struct slot* s) {
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i] != (unsigned char)(s->tag + i * 7)) return 0;
  return 1;
}

/* Replaces a few local blocks, checking each one's contents first. */
static void churn(struct worker* w, struct slot* slots, uint64_t* seed) {
  for (int k = 0; k < 8; k++) {
    struct slot* s = &slots[rnd(seed) % SLOTS];
    if (s->p && !slot_check(s)) w->bad++;
    size_t n = 1 + (size_t)(rnd(seed) % 4096);
    switch (rnd(seed) % 5) {
      case 0: free(s->p); s->p = (unsigned char*)malloc(n); break;
      case 1:
        free(s->p);
        s->p = (unsigned char*)calloc(n, 1);
        for (size_t i = 0; i < n; i++)
          if (s->p[i]) { w->bad++; break; }
        break;
      case 2: {
        /* realloc keeps the common prefix */
        size_t keep = s->p ? (s->n < n ? s->n : n) : 0;
        unsigned char* q = (unsigned char*)realloc(s->p, n);
        for (size_t i = 0; i < keep; i++)
          if (q[i] != (unsigned char)(s->tag + i * 7)) { w->bad++; break; }
        s->p = q;
        break;
      }
      case 3: {
        free(s->p);
        void* q = NULL;
        if (posix_memalign(&q, 256, n) != 0 || ((uintptr_t)q & 255)) w->bad++;
        s->p = (unsigned char*)q;
        break;
      }
      default:
        free(s->p);
        s->p = (unsigned char*)aligned_alloc(64, (n + 63) & ~(size_t)63);
        if ((uintptr_t)s->p & 63) w->bad++;
        break;
    }
    if (!s->p) { w->bad++; s->n = 0; continue; }
    s->n = n;
    s->tag = (unsigned char)rnd(seed);
    slot_fill(s);
  }
}

static void send_block(struct worker* w, unsigned pair, int round, uint64_t* seed) {
  struct msg m;
  m.size = block_size(seed);
  unsigned char* b = (unsigned char*)malloc(m.size);
  if (!b) { w->bad++; return; }
  pattern_fill(pair * 1000u + (unsigned)round, 0, b, m.size);
  m.sum = fnv1a(FNV_INIT, b, m.size);
  m.block = b;
  if (write_full(w->wfd, &m, sizeof m) != 0 || write_full(w->wfd, b, m.size) != 0) w->bad++;
  /* b now belongs to the receiver, which frees it */
  w->sent_sum = fnv1a(w->sent_sum, &m.sum, sizeof m.sum);
  w->sent_bytes += m.size;
}

static void recv_block(struct worker* w) {
  struct msg m;
  if (read_full(w->rfd, &m, sizeof m) != (ssize_t)sizeof m) { w->bad++; return; }
  unsigned char* b = (unsigned char*)malloc(m.size);
  if (!b || read_full(w->rfd, b, m.size) != (ssize_t)m.size) { w->bad++; free(b); return; }
  uint64_t sum = fnv1a(FNV_INIT, b, m.size);
  /* the sender's copy, still intact, is freed here (another thread's block) */
  if (sum != m.sum || memcmp(b, m.block, m.size) != 0) w->bad++;
  free(m.block);
  free(b);
  w->recv_sum = fnv1a(w->recv_sum, &sum, sizeof sum);
  w->recv_bytes += m.size;
}

static void* run(void* p) {
  struct worker* w = (struct worker*)p;
  w->self = pthread_self();
  pthread_once(&g_once, once_init);
  w->once_ok = g_table && g_table[255] == 255u * 2654435761u;

  struct per_thread* pt = (struct per_thread*)malloc(sizeof *pt);
  pt->index = w->index;
  pt->buf = (char*)malloc(1000);
  for (int i = 0; i < 1000; i++) pt->buf[i] = (char)(w->index + i);
  pthread_setspecific(g_key, pt);

  struct slot slots[SLOTS];
  memset(slots, 0, sizeof slots);
  uint64_t seed = 77 + (uint64_t)w->index;
  churn(w, slots, &seed);

  pthread_mutex_lock(&g_mu);
  g_arrived++;
  pthread_cond_broadcast(&g_cv);
  while (!g_go) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);

  unsigned pair = (unsigned)w->index / 2;
  int even = (w->index % 2) == 0;
  uint64_t bseed = 1000 + (uint64_t)w->index;
  for (int r = 0; r < ROUNDS; r++) {
    /* the even thread of a pair sends in even rounds, the odd one in odd
     * rounds: a ping-pong, so big blocks never deadlock */
    if (((r % 2) == 0) == even)
      send_block(w, pair * 2 + (unsigned)(even ? 0 : 1), r, &bseed);
    else
      recv_block(w);
    churn(w, slots, &seed);
    pthread_mutex_lock(&g_mu);
    g_rounds++;
    pthread_mutex_unlock(&g_mu);
  }

  for (int i = 0; i < SLOTS; i++) {
    if (slots[i].p && !slot_check(&slots[i])) w->bad++;
    free(slots[i].p);
  }
  struct per_thread* got = (struct per_thread*)pthread_getspecific(g_key);
  w->key_ok = got == pt && got->index == w->index;
  w->self_ok = pthread_equal(w->self, pthread_self());
  return w;
}

/* Which library malloc resolves to (the one the program was linked with). */
static const char* allocator(void) {
  void* f = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (!f || !dladdr(f, &info) || !info.dli_fname) return "unknown";
  if (strstr(info.dli_fname, "jemalloc")) return "jemalloc";
  if (strstr(info.dli_fname, "tcmalloc")) return "tcmalloc";
  if (strstr(info.dli_fname, "libc.so")) return "glibc";
  return "other";
}

int main(void) {
  test_start();
  printf("malloc comes from: %s\n", allocator());
  if (pthread_key_create(&g_key, key_dtor) != 0) return 2;

  struct worker w[NTHREADS];
  memset(w, 0, sizeof w);
  for (int p = 0; p < NPAIRS; p++) {
    int a = 2 * p, b = 2 * p + 1;
    if (p % 2 == 0) {
      int ab[2], ba[2];
      if (pipe(ab) != 0 || pipe(ba) != 0) return 2;
      w[a].wfd = ab[1]; w[b].rfd = ab[0];
      w[b].wfd = ba[1]; w[a].rfd = ba[0];
    } else {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
      w[a].wfd = w[a].rfd = sv[0];
      w[b].wfd = w[b].rfd = sv[1];
    }
  }
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    w[i].index = i;
    w[i].sent_sum = w[i].recv_sum = FNV_INIT;
    if (pthread_create(&th[i], NULL, run, &w[i]) != 0) {
      printf("pthread_create %d: FAIL\n", i);
      return 1;
    }
  }
  printf("%d threads created\n", NTHREADS);

  /* all threads alive and waiting at the barrier */
  pthread_mutex_lock(&g_mu);
  while (g_arrived < NTHREADS) pthread_cond_wait(&g_cv, &g_mu);
  tasks_sample();
  g_go = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);

  int joins_ok = 1;
  for (int i = 0; i < NTHREADS; i++) {
    void* ret = NULL;
    if (pthread_join(th[i], &ret) != 0 || ret != &w[i]) joins_ok = 0;
  }
  CHECK(joins_ok, "all threads joined with their own value", "a join failed");

  for (int p = 0; p < NPAIRS; p++) {
    struct worker* a = &w[2 * p];
    struct worker* b = &w[2 * p + 1];
    printf("pair %d (%s): sent %llu+%llu bytes, sums %016llx %016llx\n", p,
           p % 2 == 0 ? "pipes" : "socketpair", (unsigned long long)a->sent_bytes,
           (unsigned long long)b->sent_bytes, (unsigned long long)a->sent_sum,
           (unsigned long long)b->sent_sum);
    CHECK(a->sent_sum == b->recv_sum && b->sent_sum == a->recv_sum &&
              a->sent_bytes == b->recv_bytes && b->sent_bytes == a->recv_bytes,
          "  received what the partner sent", "sums or byte counts differ");
  }
  int bad = 0, self_ok = 1, key_ok = 1, once_ok = 1;
  for (int i = 0; i < NTHREADS; i++) {
    bad += w[i].bad;
    self_ok &= w[i].self_ok && pthread_equal(w[i].self, th[i]);
    key_ok &= w[i].key_ok;
    once_ok &= w[i].once_ok;
  }
  CHECK(bad == 0, "block contents, checksums and alignment", "%d errors", bad);
  CHECK(self_ok, "pthread_self matches pthread_create's id", "mismatch");
  CHECK(key_ok, "pthread_getspecific per thread", "mismatch");
  CHECK(once_ok && g_once_runs == 1, "pthread_once ran once", "ran %d times", g_once_runs);
  printf("key destructors: %d (bad contents %d)\n", __atomic_load_n(&g_dtor_runs, __ATOMIC_RELAXED),
         __atomic_load_n(&g_dtor_bad, __ATOMIC_RELAXED));
  CHECK(g_rounds == (long)NTHREADS * ROUNDS, "shared counter under the mutex", "%ld", g_rounds);
  free(g_table);

  /* the allocator still works after the threads are gone */
  char* big = (char*)malloc(8u << 20);
  memset(big, 'x', 8u << 20);
  big = (char*)realloc(big, 16u << 20);
  CHECK(big && big[(8u << 20) - 1] == 'x', "8 MiB -> 16 MiB realloc in main", "lost contents");
  free(big);
  return test_end();
}
