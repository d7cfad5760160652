// SPDX-License-Identifier: MIT
// greenhouse.h through the library, as a program uses it: this binary is
// linked with libgreenhouse (no LD_PRELOAD), so its threads are green
// threads; CTest also runs it under the launcher (api.under_launcher), where
// the same library is preloaded too and must be loaded once. One test per
// call family: threads, Timeout, Event, channels and select (fairness, close,
// timeouts, many carriers), queues, pools, green-local storage.
//
// Tests wait for conditions, never for fixed sleeps; deadlines are checked
// to be never early, never for how late they are.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "greenhouse.h"
#include "greenhouse.hpp"

namespace {

constexpr int64_t kMs = 1000 * 1000;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Green threads must be on for most of what follows.
bool green() { return gh_enabled() != 0; }

TEST(Runtime, OneLibraryOneRuntime) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash != std::string::npos && line.find("libgreenhouse") != std::string::npos)
      files.insert(line.substr(slash));
  }
  EXPECT_EQ(files.size(), 1u) << "libgreenhouse loaded more than once";
  EXPECT_TRUE(green()) << "linked with the library, threads should be green";
  EXPECT_GE(gh_carriers(), 1);
}

TEST(Threads, SpawnJoinDetachAndOptions) {
  gh_thread_t t;
  ASSERT_EQ(gh_spawn(
                &t, [](void* a) -> void* { return static_cast<char*>(a) + 1; },
                reinterpret_cast<void*>(41), nullptr),
            0);
  void* r = nullptr;
  EXPECT_EQ(gh_join(t, &r), 0);
  EXPECT_EQ(reinterpret_cast<intptr_t>(r), 42);

  gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
  o.name = "worker-7";
  o.stack_size = 64 * 1024;
  static char got[16];
  ASSERT_EQ(gh_spawn(
                &t,
                [](void*) -> void* {
                  pthread_getname_np(pthread_self(), got, sizeof got);
                  return nullptr;
                },
                nullptr, &o),
            0);
  EXPECT_EQ(gh_join(t, nullptr), 0);
  EXPECT_STREQ(got, "worker-7");

  o = GH_SPAWN_OPTS_INIT;
  o.carrier = gh_carriers();  // one past the last
  EXPECT_EQ(gh_spawn(
                &t, [](void*) -> void* { return nullptr; }, nullptr, &o),
            EINVAL);
  o.carrier = -2;
  EXPECT_EQ(gh_spawn(
                &t, [](void*) -> void* { return nullptr; }, nullptr, &o),
            EINVAL);
  EXPECT_EQ(gh_spawn(&t, nullptr, nullptr, nullptr), EINVAL);

  // Detached: it runs and is freed; joining it is an error.
  static gh_event_t ran = GH_EVENT_INIT;
  o = GH_SPAWN_OPTS_INIT;
  o.detached = 1;
  ASSERT_EQ(gh_spawn(
                &t,
                [](void*) -> void* {
                  gh_event_set(&ran);
                  return nullptr;
                },
                nullptr, &o),
            0);
  EXPECT_EQ(gh_event_wait(&ran, 10000 * kMs), 0);
}

TEST(Threads, PinnedToEachCarrier) {
  // A thread pinned to carrier k runs (and keeps running) there; all end.
  std::vector<gh_thread_t> ts;
  static std::atomic<int> done{0};
  done = 0;
  for (int k = 0; k < gh_carriers(); k++) {
    for (int i = 0; i < 4; i++) {
      gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
      o.carrier = k;
      gh_thread_t t;
      ASSERT_EQ(gh_spawn(
                    &t,
                    [](void*) -> void* {
                      for (int y = 0; y < 100; y++) gh_yield();
                      gh_sleep(kMs);
                      done++;
                      return nullptr;
                    },
                    nullptr, &o),
                0);
      ts.push_back(t);
    }
  }
  for (auto t : ts) EXPECT_EQ(gh_join(t, nullptr), 0);
  EXPECT_EQ(done, 4 * gh_carriers());
}

// The OS thread the caller runs on (gettid() and syscall(SYS_gettid) give
// green ids under the shim).
long os_tid() {
  long tid;
  asm volatile("syscall" : "=a"(tid) : "0"(186L) : "rcx", "r11", "memory");  // SYS_gettid
  return tid;
}

// A pinned thread runs on its carrier from its first instruction on, and
// stays there across yields and parks.
TEST(Threads, PinnedRunsOnlyOnItsCarrier) {
  const int n = gh_carriers();
  static long where[8][3];
  std::vector<gh_thread_t> ts;
  for (int k = 0; k < n && k < 8; k++) {
    gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
    o.carrier = k;
    gh_thread_t t;
    ASSERT_EQ(gh_spawn(
                  &t,
                  [](void* a) -> void* {
                    long* w = where[reinterpret_cast<intptr_t>(a)];
                    w[0] = os_tid();
                    for (int y = 0; y < 50; y++) gh_yield();
                    w[1] = os_tid();
                    gh_sleep(kMs);
                    w[2] = os_tid();
                    return nullptr;
                  },
                  reinterpret_cast<void*>(static_cast<intptr_t>(k)), &o),
              0);
    ts.push_back(t);
  }
  for (auto t : ts) gh_join(t, nullptr);
  std::set<long> carriers_seen;
  for (int k = 0; k < n && k < 8; k++) {
    EXPECT_EQ(where[k][0], where[k][1]) << "carrier " << k;
    EXPECT_EQ(where[k][0], where[k][2]) << "carrier " << k;
    carriers_seen.insert(where[k][0]);
  }
  EXPECT_EQ(static_cast<int>(carriers_seen.size()), n < 8 ? n : 8);
}

TEST(Threads, IdsSleepAndYield) {
  EXPECT_EQ(gh_id(), gettid());
  static pid_t other;
  gh_thread_t t;
  ASSERT_EQ(gh_spawn(
                &t,
                [](void*) -> void* {
                  other = gh_id();
                  return nullptr;
                },
                nullptr, nullptr),
            0);
  gh_join(t, nullptr);
  EXPECT_NE(other, gh_id());
  int64_t t0 = now_ns();
  EXPECT_EQ(gh_sleep(3 * kMs), 0);
  EXPECT_GE(now_ns() - t0, 3 * kMs);
  gh_yield();
}

TEST(Timeout, EndsApiWaitsAndSocketReads) {
  gh_timeout_t t;
  gh_timeout_start(&t, 5 * kMs);
  int64_t t0 = now_ns();
  EXPECT_EQ(gh_sleep(10000 * kMs), ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 5 * kMs);
  EXPECT_TRUE(gh_timeout_expired(&t));
  gh_timeout_end(&t);
  EXPECT_EQ(gh_sleep(kMs), 0);  // the scope is over

  // A plain blocking read on a socket and on a pipe: -1, ETIMEDOUT.
  int sv[2], p[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(pipe(p), 0);
  char c;
  gh_timeout_start(&t, 5 * kMs);
  errno = 0;
  EXPECT_EQ(read(sv[0], &c, 1), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  errno = 0;
  EXPECT_EQ(read(p[0], &c, 1), -1);
  EXPECT_EQ(errno, ETIMEDOUT);
  gh_timeout_end(&t);
  // A shorter SO_RCVTIMEO inside a longer scope: its own EAGAIN.
  timeval tv{0, 2000};
  ASSERT_EQ(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  gh_timeout_start(&t, 10000 * kMs);
  errno = 0;
  EXPECT_EQ(read(sv[0], &c, 1), -1);
  EXPECT_EQ(errno, EAGAIN);
  gh_timeout_end(&t);
  // Data that is there is read whatever the scope.
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  gh_timeout_start(&t, 0);
  EXPECT_EQ(read(sv[0], &c, 1), 1);
  gh_timeout_end(&t);
  for (int fd : {sv[0], sv[1], p[0], p[1]}) close(fd);
}

TEST(Timeout, NestsAndTheEarliestCounts) {
  gh_timeout_t outer, inner;
  gh_timeout_start(&outer, 5 * kMs);
  gh_timeout_start(&inner, 10000 * kMs);  // later than the outer: no effect
  gh_event_t e = GH_EVENT_INIT;
  EXPECT_EQ(gh_event_wait(&e, GH_FOREVER), ETIMEDOUT);
  EXPECT_FALSE(gh_timeout_expired(&inner));
  gh_timeout_end(&inner);
  gh_timeout_end(&outer);
  EXPECT_EQ(gh_event_wait(&e, 0), EAGAIN);  // no scope: a try is EAGAIN
}

TEST(Event, WaitSetClear) {
  static gh_event_t e = GH_EVENT_INIT;
  gh_event_clear(&e);
  EXPECT_EQ(gh_event_is_set(&e), 0);
  EXPECT_EQ(gh_event_wait(&e, 0), EAGAIN);
  int64_t t0 = now_ns();
  EXPECT_EQ(gh_event_wait(&e, 3 * kMs), ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 3 * kMs);
  // Every waiter wakes on one set.
  static std::atomic<int> woke{0};
  woke = 0;
  std::vector<gh_thread_t> ts(20);
  for (auto& t : ts)
    ASSERT_EQ(gh_spawn(
                  &t,
                  [](void*) -> void* {
                    if (gh_event_wait(&e, GH_FOREVER) == 0) woke++;
                    return nullptr;
                  },
                  nullptr, nullptr),
              0);
  gh_yield();
  gh_event_set(&e);
  for (auto t : ts) gh_join(t, nullptr);
  EXPECT_EQ(woke, 20);
  EXPECT_EQ(gh_event_wait(&e, 0), 0);  // stays set
  gh_event_clear(&e);
  EXPECT_EQ(gh_event_is_set(&e), 0);
}

TEST(Channel, SendRecvCloseAndErrors) {
  EXPECT_EQ(gh_chan_new(0, 1), nullptr);
  EXPECT_EQ(errno, EINVAL);
  gh_chan_t* c = gh_chan_new(sizeof(int), 2);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(gh_chan_cap(c), 2u);
  int v = 1;
  EXPECT_EQ(gh_chan_send(c, &v, 0), 0);
  v = 2;
  EXPECT_EQ(gh_chan_send(c, &v, 0), 0);
  EXPECT_EQ(gh_chan_send(c, &v, 0), EAGAIN);  // full, a try
  int64_t t0 = now_ns();
  EXPECT_EQ(gh_chan_send(c, &v, 2 * kMs), ETIMEDOUT);
  EXPECT_GE(now_ns() - t0, 2 * kMs);
  EXPECT_EQ(gh_chan_len(c), 2u);
  EXPECT_EQ(gh_chan_close(c), 0);
  EXPECT_EQ(gh_chan_close(c), EPIPE);
  EXPECT_EQ(gh_chan_send(c, &v, GH_FOREVER), EPIPE);
  EXPECT_EQ(gh_chan_recv(c, &v, GH_FOREVER), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(gh_chan_recv(c, &v, GH_FOREVER), 0);
  EXPECT_EQ(v, 2);
  EXPECT_EQ(gh_chan_recv(c, &v, GH_FOREVER), EPIPE);
  EXPECT_EQ(v, 0);
  gh_chan_free(c);
  gh_chan_t* u = gh_chan_new(8, GH_UNBOUNDED);
  EXPECT_EQ(gh_chan_cap(u), GH_UNBOUNDED);
  gh_chan_free(u);
}

TEST(Select, FairAmongReadyAndBlocksForOne) {
  gh_chan_t* a = gh_chan_new(sizeof(int), 1);
  gh_chan_t* b = gh_chan_new(sizeof(int), 1);
  int x = 0, v;
  gh_chan_send(a, &x, 0);
  gh_chan_send(b, &x, 0);
  gh_select_case cs[2] = {{a, GH_RECV, &v, 0}, {b, GH_RECV, &v, 0}};
  int count[2] = {0, 0};
  for (int i = 0; i < 10000; i++) {
    int r = gh_select(cs, 2, 0);
    ASSERT_GE(r, 0);
    count[r]++;
    gh_chan_send(cs[r].chan, &x, 0);
  }
  EXPECT_GT(count[0], 4000);
  EXPECT_GT(count[1], 4000);
  gh_chan_recv(a, &v, 0);
  gh_chan_recv(b, &v, 0);
  EXPECT_EQ(gh_select(cs, 2, 0), -EAGAIN);
  EXPECT_EQ(gh_select(cs, 2, 2 * kMs), -ETIMEDOUT);
  EXPECT_EQ(gh_select(cs, 0, 0), -EINVAL);
  gh_select_case bad = {a, 7, &v, 0};
  EXPECT_EQ(gh_select(&bad, 1, 0), -EINVAL);
  // Blocked on both; a send on b completes exactly that case.
  static gh_chan_t* bb;
  bb = b;
  gh_thread_t t;
  gh_spawn(
      &t,
      [](void*) -> void* {
        int y = 5;
        gh_chan_send(bb, &y, GH_FOREVER);
        return nullptr;
      },
      nullptr, nullptr);
  v = -1;
  EXPECT_EQ(gh_select(cs, 2, GH_FOREVER), 1);
  EXPECT_EQ(v, 5);
  gh_join(t, nullptr);
  EXPECT_EQ(gh_chan_len(a), 0u);
  gh_chan_close(a);
  EXPECT_EQ(gh_select(cs, 2, GH_FOREVER), 0);  // closed: ready, EPIPE
  EXPECT_EQ(cs[0].status, EPIPE);
  gh_chan_free(a);
  gh_chan_free(b);
}

// Producers pinned to every carrier, consumers anywhere: every value
// arrives once.
TEST(Channel, ManyCarriers) {
  static gh_chan_t* c;
  c = gh_chan_new(sizeof(uint32_t), 4);
  constexpr uint32_t kEach = 5000;
  const int producers = 2 * gh_carriers();
  static std::atomic<int> live;
  live = producers;
  static std::vector<std::atomic<uint8_t>>* seen;
  seen = new std::vector<std::atomic<uint8_t>>(producers * kEach);
  std::vector<gh_thread_t> ts;
  for (int i = 0; i < producers; i++) {
    gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
    o.carrier = i % gh_carriers();
    gh_thread_t t;
    ASSERT_EQ(gh_spawn(
                  &t,
                  [](void* a) -> void* {
                    uint32_t base = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(a)) * kEach;
                    for (uint32_t k = 0; k < kEach; k++) {
                      uint32_t v = base + k;
                      if (gh_chan_send(c, &v, GH_FOREVER) != 0) return a;
                    }
                    if (--live == 0) gh_chan_close(c);
                    return nullptr;
                  },
                  reinterpret_cast<void*>(static_cast<uintptr_t>(i)), &o),
              0);
    ts.push_back(t);
  }
  for (int i = 0; i < 3; i++) {
    gh_thread_t t;
    ASSERT_EQ(gh_spawn(
                  &t,
                  [](void*) -> void* {
                    uint32_t v;
                    while (gh_chan_recv(c, &v, GH_FOREVER) == 0) (*seen)[v]++;
                    return nullptr;
                  },
                  nullptr, nullptr),
              0);
    ts.push_back(t);
  }
  for (auto t : ts) {
    void* r = nullptr;
    gh_join(t, &r);
    EXPECT_EQ(r, nullptr);
  }
  for (size_t k = 0; k < seen->size(); k++) ASSERT_EQ((*seen)[k], 1) << k;
  delete seen;
  gh_chan_free(c);
}

TEST(Queue, FifoBoundsAndClose) {
  gh_queue_t* q = gh_queue_new(2);
  int a = 1, b = 2, c = 3;
  EXPECT_EQ(gh_queue_put(q, &a, 0), 0);
  EXPECT_EQ(gh_queue_put(q, &b, 0), 0);
  EXPECT_EQ(gh_queue_put(q, &c, 0), EAGAIN);
  EXPECT_EQ(gh_queue_size(q), 2u);
  void* got;
  EXPECT_EQ(gh_queue_get(q, &got, 0), 0);
  EXPECT_EQ(got, &a);
  EXPECT_EQ(gh_queue_close(q), 0);
  EXPECT_EQ(gh_queue_put(q, &c, 0), EPIPE);
  EXPECT_EQ(gh_queue_get(q, &got, 0), 0);
  EXPECT_EQ(got, &b);
  EXPECT_EQ(gh_queue_get(q, &got, GH_FOREVER), EPIPE);
  EXPECT_EQ(got, nullptr);
  gh_queue_free(q);
  gh_queue_t* u = gh_queue_new(0);  // unbounded
  for (intptr_t i = 0; i < 10000; i++) ASSERT_EQ(gh_queue_put(u, reinterpret_cast<void*>(i), 0), 0);
  for (intptr_t i = 0; i < 10000; i++) {
    ASSERT_EQ(gh_queue_get(u, &got, 0), 0);
    ASSERT_EQ(got, reinterpret_cast<void*>(i));
  }
  EXPECT_EQ(gh_queue_get(u, &got, 0), EAGAIN);
  gh_queue_free(u);
}

std::atomic<int> g_running{0}, g_most{0};
void* busy_task(void* a) {
  int now = ++g_running;
  for (int m = g_most; now > m && !g_most.compare_exchange_weak(m, now);) {
  }
  gh_sleep(kMs);
  g_running--;
  return static_cast<char*>(a) + 1000;
}

TEST(Pool, BoundsConcurrencyAndMaps) {
  EXPECT_EQ(gh_pool_new(0), nullptr);
  gh_pool_t* p = gh_pool_new(3);
  g_most = 0;
  for (int i = 0; i < 20; i++) ASSERT_EQ(gh_pool_spawn(p, busy_task, nullptr), 0);
  EXPECT_EQ(gh_pool_join(p, GH_FOREVER), 0);
  EXPECT_EQ(gh_pool_running(p), 0u);
  EXPECT_LE(g_most, 3);
  EXPECT_GE(g_most, 1);

  std::vector<void*> in(50), out(50);
  for (size_t i = 0; i < in.size(); i++) in[i] = reinterpret_cast<void*>(i);
  g_most = 0;
  EXPECT_EQ(gh_pool_map(p, busy_task, in.data(), out.data(), in.size()), 0);
  for (size_t i = 0; i < out.size(); i++)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(out[i]), i + 1000) << i;  // in input order
  EXPECT_LE(g_most, 3);

  static std::vector<int> seen;
  seen.assign(50, 0);
  EXPECT_EQ(gh_pool_map_unordered(
                p, busy_task, in.data(), in.size(),
                [](void*, size_t i, void* r) {
                  if (reinterpret_cast<uintptr_t>(r) == i + 1000) seen[i]++;
                },
                nullptr),
            0);
  for (size_t i = 0; i < seen.size(); i++) EXPECT_EQ(seen[i], 1) << i;
  gh_pool_free(p);
}

// A task queued while the only idle worker is being handed another must not
// wait behind that one: here the first task waits for the second.
TEST(Pool, QueuedTaskGetsItsOwnWorker) {
  gh_pool_t* p = gh_pool_new(2);
  for (int round = 0; round < 20; round++) {
    ASSERT_EQ(gh_pool_join(p, GH_FOREVER), 0);  // workers idle now
    static gh_event_t e;
    gh_event_clear(&e);
    static int waited;
    waited = -1;
    ASSERT_EQ(gh_pool_spawn(
                  p,
                  [](void*) -> void* {
                    waited = gh_event_wait(&e, 10000 * kMs);
                    return nullptr;
                  },
                  nullptr),
              0);
    ASSERT_EQ(gh_pool_spawn(
                  p,
                  [](void*) -> void* {
                    gh_event_set(&e);
                    return nullptr;
                  },
                  nullptr),
              0);
    ASSERT_EQ(gh_pool_join(p, GH_FOREVER), 0);
    ASSERT_EQ(waited, 0) << "round " << round;
  }
  gh_pool_free(p);
}

// A Timeout scope around gh_pool_map and gh_pool_free does not cut short
// their waits for the tasks (which write into the caller's memory).
TEST(Pool, MapAndFreeWaitForTheirTasksWhateverTheScope) {
  gh_pool_t* p = gh_pool_new(4);
  std::vector<void*> in(4), out(4);
  for (size_t i = 0; i < in.size(); i++) in[i] = reinterpret_cast<void*>(i);
  auto slow = [](void* a) -> void* {
    gh_sleep(20 * kMs);  // a worker's own wait: the caller's scope is not its
    return static_cast<char*>(a) + 1;
  };
  gh_timeout_t t;
  gh_timeout_start(&t, 2 * kMs);
  EXPECT_EQ(gh_pool_map(p, slow, in.data(), out.data(), in.size()), 0);
  gh_timeout_end(&t);
  for (size_t i = 0; i < out.size(); i++) EXPECT_EQ(reinterpret_cast<uintptr_t>(out[i]), i + 1);
  static std::atomic<int> finished{0};
  finished = 0;
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gh_pool_spawn(
                  p,
                  [](void*) -> void* {
                    gh_sleep(20 * kMs);
                    finished++;
                    return nullptr;
                  },
                  nullptr),
              0);
  gh_timeout_start(&t, 2 * kMs);
  gh_pool_free(p);
  gh_timeout_end(&t);
  EXPECT_EQ(finished, 4);
}

TEST(Pool, JoinAndSpawnTimeOut) {
  gh_pool_t* p = gh_pool_new(1);
  static gh_event_t release = GH_EVENT_INIT;
  gh_event_clear(&release);
  ASSERT_EQ(gh_pool_spawn(
                p,
                [](void*) -> void* {
                  gh_event_wait(&release, GH_FOREVER);
                  return nullptr;
                },
                nullptr),
            0);
  EXPECT_EQ(gh_pool_join(p, 0), EAGAIN);
  EXPECT_EQ(gh_pool_join(p, 2 * kMs), ETIMEDOUT);
  gh_timeout_t t;
  gh_timeout_start(&t, 2 * kMs);
  EXPECT_EQ(gh_pool_spawn(p, busy_task, nullptr), ETIMEDOUT);  // no free slot in time
  gh_timeout_end(&t);
  gh_event_set(&release);
  EXPECT_EQ(gh_pool_join(p, GH_FOREVER), 0);
  gh_pool_free(p);
}

TEST(Local, PerThreadWithDestructor) {
  static gh_local_t key;
  static std::atomic<int> freed{0};
  ASSERT_EQ(
      gh_local_new(&key, [](void* v) { freed += static_cast<int>(reinterpret_cast<intptr_t>(v)); }),
      0);
  ASSERT_EQ(gh_local_set(key, reinterpret_cast<void*>(1)), 0);
  std::vector<gh_thread_t> ts(10);
  for (auto& t : ts)
    gh_spawn(
        &t,
        [](void*) -> void* {
          if (gh_local_get(key) != nullptr) return reinterpret_cast<void*>(1);
          gh_local_set(key, reinterpret_cast<void*>(10));
          gh_yield();
          return gh_local_get(key) == reinterpret_cast<void*>(10) ? nullptr
                                                                  : reinterpret_cast<void*>(1);
        },
        nullptr, nullptr);
  for (auto t : ts) {
    void* r = reinterpret_cast<void*>(1);
    gh_join(t, &r);
    EXPECT_EQ(r, nullptr);
  }
  EXPECT_EQ(freed, 100);  // each thread's value, at its exit
  EXPECT_EQ(gh_local_get(key), reinterpret_cast<void*>(1));
  gh_local_set(key, nullptr);
  EXPECT_EQ(gh_local_delete(key), 0);
}

TEST(Cxx, ThreadsChannelsSelectPoolTimeout) {
  using namespace std::chrono_literals;
  greenhouse::Channel<int> jobs(4), results(greenhouse::Channel<int>::kUnbounded);
  greenhouse::Thread producer([&] {
    for (int i = 1; i <= 100; i++) jobs.send(i);
    jobs.close();
  });
  greenhouse::Pool pool(5);
  int v;
  while (jobs.recv(v) == 0) pool.spawn([v, &results] { results.send(v * 2); });
  producer.join();
  pool.join();
  results.close();
  int sum = 0;
  while (results.recv(v) == 0) sum += v;
  EXPECT_EQ(sum, 2 * 5050);

  std::vector<int> in{1, 2, 3, 4, 5};
  std::vector<int> sq;
  EXPECT_EQ(pool.map(
                in, [](int x) { return x * x; }, sq),
            0);
  EXPECT_EQ(sq, (std::vector<int>{1, 4, 9, 16, 25}));
  std::vector<bool> odd;  // each result its own slot, even for bool
  EXPECT_EQ(pool.map(
                in, [](int x) { return x % 2 == 1; }, odd),
            0);
  EXPECT_EQ(odd, (std::vector<bool>{true, false, true, false, true}));
  int total = 0;
  std::vector<size_t> order;
  EXPECT_EQ(pool.imap_unordered(
                in, [](int x) { return x; },
                [&](size_t i, int r) {
                  total += r;
                  order.push_back(i);
                }),
            0);
  EXPECT_EQ(total, 15);
  EXPECT_EQ(order.size(), 5u);

  greenhouse::Channel<int> a(0), b(1);
  b.send(9);
  greenhouse::Select s;
  int ra = 0, rb = 0;
  s.recv(a, &ra);
  s.recv(b, &rb);
  EXPECT_EQ(s.wait(), 1);
  EXPECT_EQ(rb, 9);
  EXPECT_EQ(s.wait(2ms), -ETIMEDOUT);

  greenhouse::Event e;
  {
    greenhouse::Timeout t(2ms);
    EXPECT_EQ(e.wait(), ETIMEDOUT);
    EXPECT_TRUE(t.expired());
  }
  greenhouse::Local<int> local;
  int mine = 3;
  local.set(&mine);
  EXPECT_EQ(local.get(), &mine);
  EXPECT_EQ(greenhouse::spawn([] {}), 0);
}

}  // namespace
