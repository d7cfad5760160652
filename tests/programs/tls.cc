// SPDX-License-Identifier: MIT
// Thread-local storage per thread, across blocking calls: 1000 threads in
// pairs (a socketpair each) keep C++ thread_local counters and containers,
// C-style __thread variables, errno and a uselocale() locale, and check after
// every park (usleep, a read of what the partner writes) that they still see
// only their own values. thread_local objects with destructors log their
// construction and destruction per thread: destruction in reverse order of
// construction, all of it before pthread_join returns, and before the
// thread's pthread_key destructor (glibc: __call_tls_dtors, then keys), also
// when the thread ends with pthread_exit. The main thread's own
// thread_local destructor runs at exit, before atexit handlers.
#include "common.h"

#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

constexpr int kThreads = 1000;  // even: pairs (2k, 2k+1)
constexpr int kRounds = 20;

// --- C++ thread_local state, updated across parks ---------------------------
thread_local long tl_count = 0;
thread_local uint64_t tl_sum = 0;
thread_local std::vector<int> tl_vec;
thread_local std::string tl_str = "init:";  // dynamic initialisation per thread
thread_local int tl_index = -1;

// --- C-style __thread ------------------------------------------------------
__thread int c_tls = 41;  // a non-zero initial image
__thread char c_buf[32];  // zero-initialised (.tbss)

// --- per-thread logs (each written only by its own thread) ------------------
char g_log[kThreads + 1][96];  // [kThreads] is the main thread
int g_log_len[kThreads + 1];

void log_add(const char* s) {
  int i = tl_index < 0 ? kThreads : tl_index;
  int n = (int)strlen(s);
  if (g_log_len[i] + n + 1 >= (int)sizeof g_log[i]) {
    g_failures++;
    return;
  }
  memcpy(g_log[i] + g_log_len[i], s, (size_t)n);
  g_log_len[i] += n;
  g_log[i][g_log_len[i]++] = ' ';
  g_log[i][g_log_len[i]] = 0;
}

// A thread_local object whose constructor and destructor log. Its
// destructor parks (usleep) when `park` is set: destructors may block.
struct Tracker {
  char name;
  bool park;
  explicit Tracker(char n, bool p = false) : name(n), park(p) {
    char s[4] = {'C', ':', n, 0};
    log_add(s);
  }
  ~Tracker() {
    if (park) usleep(200);
    char s[4] = {'D', ':', name, 0};
    log_add(s);
  }
};

Tracker& tracker_a() {
  thread_local Tracker t('a');
  return t;
}
Tracker& tracker_b() {
  thread_local Tracker t('b', true);
  return t;
}
Tracker& tracker_c() {
  thread_local Tracker t('c');
  return t;
}

// The key's destructor: after every thread_local destructor of the thread.
pthread_key_t g_key;
void key_dtor(void* v) {
  if ((intptr_t)v - 1 != tl_index) g_failures++;
  log_add("K");
}

// --- locale -----------------------------------------------------------------
locale_t g_utf8;  // newlocale(C.UTF-8)
std::string codeset() { return nl_langinfo(CODESET); }

// --- the threads -----------------------------------------------------------
struct Result {
  bool counters_ok, containers_ok, errno_ok, errno_read_ok, c_tls_ok, locale_ok, partner_ok;
  const void* c_tls_addr;
  const void* tl_count_addr;
};
Result g_res[kThreads];
int g_pair[kThreads / 2][2];  // socketpair of each pair
int g_ready[2];               // every thread writes a byte when set up
struct gate g_go;

// Construction order per thread: abc, cab, ab (no c), and the last group
// ends with pthread_exit.
const char* order_of(int i) {
  switch (i % 4) {
    case 0: return "abc";
    case 1: return "cab";
    case 2: return "ab";
    default: return "bca";
  }
}

void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  tl_index = i;
  Result& r = g_res[i];
  int fd = g_pair[i / 2][i % 2];
  bool utf8 = i % 2 == 0;
  r = Result{true, true, true, true, true, true, true, &c_tls, &tl_count};

  for (const char* o = order_of(i); *o; o++) {
    if (*o == 'a') tracker_a();
    if (*o == 'b') tracker_b();
    if (*o == 'c') tracker_c();
  }
  if (pthread_setspecific(g_key, (void*)(intptr_t)(i + 1)) != 0) g_failures++;
  if (utf8 && uselocale(g_utf8) == (locale_t)0) g_failures++;
  if (c_tls != 41 || c_buf[0] != 0 || tl_str != "init:" || tl_count != 0) r.c_tls_ok = false;
  c_tls = 41 + i;
  snprintf(c_buf, sizeof c_buf, "thread %d", i);

  char one = 'r';
  if (write(g_ready[1], &one, 1) != 1) g_failures++;
  gate_wait(&g_go);

  for (int round = 0; round < kRounds; round++) {
    tl_count += i;
    tl_sum = tl_sum * 31 + (uint64_t)(i * 1000 + round);
    tl_vec.push_back(i * 100 + round);
    tl_str += (char)('A' + (i + round) % 26);

    errno = 10000 + i * 100 + round;  // distinct per thread and round
    usleep(50 + (unsigned)(i % 5) * 30);
    if (errno != 10000 + i * 100 + round) r.errno_ok = false;

    unsigned char out = (unsigned char)(i * 7 + round), in = 0;
    if (write(fd, &out, 1) != 1) r.partner_ok = false;
    errno = 20000 + i;
    if (read(fd, &in, 1) != 1) r.partner_ok = false;
    // A successful read leaves errno alone (glibc), also when it waited.
    if (errno != 20000 + i) r.errno_read_ok = false;
    if (in != (unsigned char)((i ^ 1) * 7 + round)) r.partner_ok = false;

    // After the parks: still this thread's values.
    if (tl_count != (long)i * (round + 1)) r.counters_ok = false;
    if ((int)tl_vec.size() != round + 1 || tl_vec.back() != i * 100 + round)
      r.containers_ok = false;
    if (tl_str.size() != 5 + (size_t)round + 1 ||
        tl_str.back() != (char)('A' + (i + round) % 26))
      r.containers_ok = false;
    if (c_tls != 41 + i + round) r.c_tls_ok = false;
    c_tls++;
    char want[32];
    snprintf(want, sizeof want, "thread %d", i);
    if (strcmp(c_buf, want) != 0) r.c_tls_ok = false;
    if (codeset() != (utf8 ? "UTF-8" : "ANSI_X3.4-1968") || (int)MB_CUR_MAX != (utf8 ? 6 : 1))
      r.locale_ok = false;
  }
  uint64_t want_sum = 0;
  for (int round = 0; round < kRounds; round++) want_sum = want_sum * 31 + (uint64_t)(i * 1000 + round);
  if (tl_sum != want_sum) r.counters_ok = false;
  for (int round = 0; round < kRounds; round++)
    if (tl_vec[(size_t)round] != i * 100 + round) r.containers_ok = false;
  // A UTF-8 conversion follows the thread's locale too.
  wchar_t wc = 0;
  mbstate_t st{};
  size_t n = mbrtowc(&wc, "\xc3\xa9", 2, &st);
  if (utf8 ? (n != 2 || wc != 0xe9) : (n != (size_t)-1)) r.locale_ok = false;

  if (i % 4 == 3) pthread_exit((void*)(intptr_t)(i + 7));
  return (void*)(intptr_t)(i + 7);
}

// A thread started while main uses another locale starts with the global
// one, and its thread_local int starts from its initial value.
void* fresh_thread(void*) {
  tl_index = kThreads;  // logs nothing
  bool ok = codeset() == "ANSI_X3.4-1968" && tl_count == 0 && c_tls == 41 && tl_str == "init:";
  return (void*)(intptr_t)ok;
}

std::string expected_log(int i) {
  std::string o = order_of(i), s;
  for (char c : o) s += std::string("C:") + c + " ";
  for (auto it = o.rbegin(); it != o.rend(); ++it) s += std::string("D:") + *it + " ";
  return s + "K ";
}

void main_exit() { printf("atexit handler: after the main thread's thread_local destructors\n"); }
struct MainTracker {
  ~MainTracker() { printf("main thread_local destructor at exit: tl_count=%ld\n", tl_count); }
};

}  // namespace

int main() {
  test_start();
  atexit(main_exit);
  thread_local MainTracker main_tracker;
  (void)&main_tracker;
  tl_count = -5;
  tl_str = "main";
  c_tls = -1;

  if (pthread_key_create(&g_key, key_dtor) != 0) return 2;
  g_utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
  if (!g_utf8) {
    printf("newlocale(C.UTF-8) failed: %s\n", errname(errno));
    return 2;
  }

  // A thread created while main uses the UTF-8 locale starts in the global.
  uselocale(g_utf8);
  pthread_t ft;
  void* fres = nullptr;
  pthread_create(&ft, nullptr, fresh_thread, nullptr);
  pthread_join(ft, &fres);
  CHECK(fres == (void*)1, "new thread: global locale and initial TLS values", "got %p", fres);
  CHECK(codeset() == "UTF-8", "main keeps its uselocale", "%s", codeset().c_str());
  uselocale(LC_GLOBAL_LOCALE);

  for (auto& p : g_pair)
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) != 0) return 2;
  if (pipe(g_ready) != 0) return 2;
  gate_init(&g_go);
  std::vector<pthread_t> th(kThreads);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (int i = 0; i < kThreads; i++)
    if (pthread_create(&th[(size_t)i], &attr, worker, (void*)(intptr_t)i) != 0) {
      printf("pthread_create %d failed\n", i);
      return 2;
    }
  for (int i = 0; i < kThreads; i++) {
    char c;
    if (read(g_ready[0], &c, 1) != 1) g_failures++;
  }
  tasks_sample();  // all 1000 alive, blocked on the gate
  gate_open(&g_go, kThreads);

  int joined_ok = 0, logs_ok = 0;
  for (int i = 0; i < kThreads; i++) {
    void* ret = nullptr;
    pthread_join(th[(size_t)i], &ret);
    if (ret == (void*)(intptr_t)(i + 7)) joined_ok++;
    // Every destructor ran before the join returned.
    if (g_log[i] == expected_log(i)) {
      logs_ok++;
    } else if (logs_ok + 5 > i) {
      printf("thread %d log \"%s\", want \"%s\"\n", i, g_log[i], expected_log(i).c_str());
    }
  }
  CHECK(joined_ok == kThreads, "1000 threads joined with their values", "%d", joined_ok);
  for (int i = 0; i < 4; i++) printf("thread %d (%s): %s\n", i, i % 4 == 3 ? "pthread_exit" : "return", g_log[i]);
  CHECK(logs_ok == kThreads,
        "thread_local destructors in reverse order, then the key destructor, before join",
        "%d of %d", logs_ok, kThreads);

  int counters = 0, containers = 0, err = 0, err_read = 0, ctls = 0, loc = 0, partner = 0;
  for (auto& r : g_res) {
    counters += r.counters_ok;
    containers += r.containers_ok;
    err += r.errno_ok;
    err_read += r.errno_read_ok;
    ctls += r.c_tls_ok;
    loc += r.locale_ok;
    partner += r.partner_ok;
  }
  CHECK(counters == kThreads, "thread_local counters per thread", "%d", counters);
  CHECK(containers == kThreads, "thread_local vector and string per thread", "%d", containers);
  CHECK(err == kThreads, "errno per thread across parks (usleep)", "%d", err);
  CHECK(err_read == kThreads, "errno unchanged by a successful read that waited for the partner",
        "%d", err_read);
  CHECK(ctls == kThreads, "__thread int and char[] per thread", "%d", ctls);
  CHECK(loc == kThreads, "uselocale per thread (C.UTF-8 / global)", "%d", loc);
  CHECK(partner == kThreads, "partners' bytes", "%d", partner);
  int distinct = 1;
  for (int i = 1; i < kThreads; i++)
    if (g_res[i].c_tls_addr == g_res[i - 1].c_tls_addr || g_res[i].tl_count_addr == g_res[i - 1].tl_count_addr ||
        g_res[i].c_tls_addr == &c_tls)
      distinct = 0;
  CHECK(distinct, "distinct TLS addresses per thread", "shared");
  CHECK(tl_count == -5 && tl_str == "main" && c_tls == -1 && g_log_len[kThreads] == 0,
        "main's own thread_local values untouched", "tl_count=%ld tl_str=%s c_tls=%d", tl_count,
        tl_str.c_str(), c_tls);
  CHECK(codeset() == "ANSI_X3.4-1968", "main in the global locale", "%s", codeset().c_str());
  freelocale(g_utf8);
  return test_end();
}
