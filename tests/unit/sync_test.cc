// Green synchronisation primitives: the parking lot (green futex), mutex,
// cond, rwlock, semaphore, barrier, once and spinlock. Semantics on one
// carrier, timeouts (never early, measured on the deadline's own clock), and
// contention across carriers: OS threads (std::thread), each of which becomes
// a carrier when it first calls into the runtime, waking each other.
//
// Tests wait for conditions (wait_until_true), never for fixed sleeps; each
// wait is bounded and fails the test instead of hanging.
#include <gtest/gtest.h>
#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/barrier.h"
#include "core/cond.h"
#include "core/green.h"
#include "core/mutex.h"
#include "core/once.h"
#include "core/parking_lot.h"
#include "core/rwlock.h"
#include "core/semaphore.h"
#include "core/spin.h"

namespace {

constexpr int64_t kMs = 1'000'000;
// Upper bound for any wait on a condition; generous for sanitizer builds.
constexpr int64_t kPatience = 20'000 * kMs;

// ---- helpers ----

struct Task {
  std::function<void()> fn;
};

// Spawns a green thread on the caller's carrier running fn.
gh::GreenThread* go(std::function<void()> fn) {
  auto* t = new Task{std::move(fn)};
  gh::GreenThread* g = nullptr;
  int rc = gh::spawn(
      [](void* a) -> void* {
        std::unique_ptr<Task> t(static_cast<Task*>(a));
        t->fn();
        return nullptr;
      },
      t, {}, &g);
  EXPECT_EQ(rc, 0);
  return g;
}

void join_all(std::vector<gh::GreenThread*>& gs) {
  for (auto* g : gs) ASSERT_EQ(gh::join(g, nullptr), 0);
  gs.clear();
}

// Lets other green threads (and carriers) run until pred() holds. Returns
// false after kPatience.
template <class Pred>
bool wait_until_true(Pred pred) {
  int64_t give_up = gh::mono_ns() + kPatience;
  for (int i = 0; !pred(); i++) {
    if (gh::mono_ns() > give_up) return false;
    if (i < 1000)
      gh::yield();
    else
      gh::sleep_for(50'000);  // other carriers are doing the work
  }
  return true;
}

// Yields n times: on one carrier, every runnable green thread gets to run.
void yield_n(int n) {
  for (int i = 0; i < n; i++) gh::yield();
}

timespec abs_after(clockid_t clk, int64_t ns) { return gh::ns_timespec(gh::clock_ns(clk) + ns); }

// Runs body(index) on `per` green threads on each of `carriers` OS threads
// (index = carrier * per + thread) and waits for all of them.
void run_on_carriers(int carriers, int per, const std::function<void(int)>& body) {
  std::vector<std::thread> ts;
  for (int c = 0; c < carriers; c++) {
    ts.emplace_back([c, per, &body] {
      std::vector<gh::GreenThread*> gs;
      for (int t = 0; t < per; t++) gs.push_back(go([&body, i = c * per + t] { body(i); }));
      join_all(gs);
    });
  }
  for (auto& t : ts) t.join();
}

// Fixture parameterised by the number of carriers (as in google/marl).
class SyncCarriers : public ::testing::TestWithParam<int> {
 protected:
  int carriers() const { return GetParam(); }
};
INSTANTIATE_TEST_SUITE_P(Carriers, SyncCarriers, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

// ---- layout ----

TEST(SyncLayout, StaticInitialisersMapToKinds) {
  pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_t rm = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  pthread_mutex_t em = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  pthread_mutex_t am = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&pm)->type(), gh::Mutex::kNormal);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&rm)->type(), gh::Mutex::kRecursive);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&em)->type(), gh::Mutex::kErrorCheck);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&am)->type(), gh::Mutex::kAdaptive);

  pthread_cond_t pc = PTHREAD_COND_INITIALIZER;
  EXPECT_EQ(reinterpret_cast<gh::Cond*>(&pc)->clock(), CLOCK_REALTIME);

  pthread_rwlock_t wr = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  EXPECT_EQ(reinterpret_cast<gh::RwLock*>(&wr)->kind,
            static_cast<uint32_t>(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  EXPECT_EQ(reinterpret_cast<gh::RwLock*>(&rw)->kind, 0u);
}

TEST(SyncLayout, ZeroFilledObjectsWork) {
  alignas(8) unsigned char buf[64];
  memset(buf, 0, sizeof buf);
  auto* m = reinterpret_cast<gh::Mutex*>(buf);
  EXPECT_EQ(m->lock(), 0);
  EXPECT_EQ(m->trylock(), EBUSY);
  EXPECT_EQ(m->unlock(), 0);

  memset(buf, 0, sizeof buf);
  auto* rw = reinterpret_cast<gh::RwLock*>(buf);
  EXPECT_EQ(rw->rdlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);
  EXPECT_EQ(rw->wrlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);

  memset(buf, 0, sizeof buf);
  auto* s = reinterpret_cast<gh::Semaphore*>(buf);
  EXPECT_EQ(s->trywait(), EAGAIN);
  EXPECT_EQ(s->post(), 0);
  EXPECT_EQ(s->wait(), 0);

  memset(buf, 0, sizeof buf);
  EXPECT_EQ(reinterpret_cast<gh::Barrier*>(buf)->wait(), EINVAL);

  memset(buf, 0, sizeof buf);
  auto* sp = reinterpret_cast<gh::Spin*>(buf);
  EXPECT_EQ(sp->lock(), 0);
  EXPECT_EQ(sp->trylock(), EBUSY);
  EXPECT_EQ(sp->unlock(), 0);
}

TEST(SyncLayout, ShimBitsAreLeftAlone) {
  gh::Mutex m{};
  m.kind = gh::Mutex::kErrorCheck | 0x80;  // the shim's bit
  EXPECT_EQ(m.type(), gh::Mutex::kErrorCheck);
  EXPECT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock(), EDEADLK);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.kind, gh::Mutex::kErrorCheck | 0x80);

  gh::RwLock rw{};
  rw.shim_ = 0xdeadbeef;
  ASSERT_EQ(rw.init(0), 0);
  EXPECT_EQ(rw.wrlock(), 0);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.shim_, 0xdeadbeefu);

  gh::Semaphore s{};
  s.shim_[0] = 1;
  s.shim_[1] = 2;
  ASSERT_EQ(s.init(1), 0);
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.shim_[0], 1u);
  EXPECT_EQ(s.shim_[1], 2u);

  gh::Barrier b{};
  b.shim_ = 7;
  ASSERT_EQ(b.init(1), 0);
  EXPECT_EQ(b.wait(), PTHREAD_BARRIER_SERIAL_THREAD);
  EXPECT_EQ(b.shim_, 7u);
}

// ---- parking lot ----

TEST(ParkingLot, ValueMismatchReturnsEagain) {
  std::atomic<uint32_t> word{5};
  EXPECT_EQ(gh::futex_wait(&word, 4, gh::kNoDeadline), -EAGAIN);
  EXPECT_EQ(gh::futex_wake(&word, 1), 0);
}

TEST(ParkingLot, TimesOutNeverEarly) {
  std::atomic<uint32_t> word{0};
  int64_t start = gh::mono_ns();
  int64_t deadline = start + 20 * kMs;
  EXPECT_EQ(gh::futex_wait(&word, 0, deadline), -ETIMEDOUT);
  EXPECT_GE(gh::mono_ns(), deadline);
  EXPECT_EQ(gh::futex_parked(&word), 0);
  // A deadline in the past times out at once.
  EXPECT_EQ(gh::futex_wait(&word, 0, 0), -ETIMEDOUT);
}

TEST(ParkingLot, WakesOldestFirstAndCounts) {
  static std::atomic<uint32_t> word{0};
  static std::vector<int> order;
  order.clear();
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 3; i++)
    gs.push_back(go([i] {
      EXPECT_EQ(gh::futex_wait(&word, 0, gh::kNoDeadline), 0);
      order.push_back(i);
    }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&word) == 3; }));
  // Another address in the same table does not wake them.
  std::atomic<uint32_t> other{0};
  EXPECT_EQ(gh::futex_wake(&other, INT_MAX), 0);
  EXPECT_EQ(gh::futex_wake(&word, 1), 1);
  yield_n(3);
  EXPECT_EQ(order, std::vector<int>{0});
  EXPECT_EQ(gh::futex_wake(&word, INT_MAX), 2);
  join_all(gs);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(gh::futex_wake(&word, INT_MAX), 0);
}

TEST(ParkingLot, RequeueMovesWaiters) {
  static std::atomic<uint32_t> from{0}, to{0};
  static std::atomic<int> woken{0};
  woken = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 4; i++)
    gs.push_back(go([] {
      EXPECT_EQ(gh::futex_wait(&from, 0, gh::kNoDeadline), 0);
      woken++;
    }));
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&from) == 4; }));
  EXPECT_EQ(gh::futex_requeue(&from, &to, 1, 2), 3);
  EXPECT_EQ(gh::futex_parked(&from), 1);
  EXPECT_EQ(gh::futex_parked(&to), 2);
  yield_n(3);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(gh::futex_wake(&to, INT_MAX), 2);
  EXPECT_EQ(gh::futex_wake(&from, INT_MAX), 1);
  join_all(gs);
  EXPECT_EQ(woken, 4);
}

TEST(ParkingLot, RequeuedWaiterTimesOutCleanly) {
  static std::atomic<uint32_t> from{0}, to{0};
  int r = 1;
  gh::GreenThread* g = go([&r] { r = gh::futex_wait(&from, 0, gh::deadline_after(20 * kMs)); });
  ASSERT_TRUE(wait_until_true([] { return gh::futex_parked(&from) == 1; }));
  EXPECT_EQ(gh::futex_requeue(&from, &to, 0, INT_MAX), 1);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(r, -ETIMEDOUT);
  EXPECT_EQ(gh::futex_parked(&to), 0);
}

// Wake-ups racing with timeouts across carriers: every wake that futex_wake
// reports went to a waiter that returned 0, and no other waiter returned 0.
TEST_P(SyncCarriers, WakeTimeoutRaceAccounting) {
  static std::atomic<uint32_t> word{0};
  std::atomic<long> woken_reported{0}, woken_seen{0}, timeouts{0};
  std::atomic<int> waiters_done{0};
  const int waiter_threads = carriers() * 4;
  constexpr int kIters = 300;
  std::vector<std::thread> wakers;
  std::atomic<bool> stop{false};
  for (int i = 0; i < 2; i++)
    wakers.emplace_back([&] {
      while (!stop.load()) {
        woken_reported += gh::futex_wake(&word, 1);
        std::this_thread::yield();
      }
    });
  run_on_carriers(carriers(), 4, [&](int idx) {
    for (int i = 0; i < kIters; i++) {
      int r = gh::futex_wait(&word, 0, gh::deadline_after((idx * 7 + i) % 50 * 1000));
      if (r == 0)
        woken_seen++;
      else if (r == -ETIMEDOUT)
        timeouts++;
      else
        ADD_FAILURE() << "futex_wait returned " << r;
    }
    waiters_done++;
  });
  stop = true;
  for (auto& t : wakers) t.join();
  EXPECT_EQ(waiters_done, waiter_threads);
  EXPECT_EQ(woken_reported.load(), woken_seen.load());
  EXPECT_EQ(woken_seen + timeouts, long{waiter_threads} * kIters);
  EXPECT_EQ(gh::futex_parked(&word), 0);
}

// ---- mutex ----

TEST(Mutex, TrylockBusyAndUnlockWakesWaiter) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  bool got = false;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(m.trylock(), EBUSY);
    EXPECT_EQ(m.lock(), 0);
    got = true;
    EXPECT_EQ(m.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&m.state) == 1; }));
  EXPECT_FALSE(got);
  EXPECT_EQ(m.unlock(), 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_TRUE(got);
  EXPECT_EQ(m.state.load(), 0u);
  EXPECT_EQ(m.destroy(), 0);
}

TEST(Mutex, UncontendedIsOneRmwWithoutFutex) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.state.load(), 1u);  // not marked contended
  EXPECT_EQ(m.destroy(), EBUSY);
  ASSERT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.state.load(), 0u);
}

TEST(Mutex, ErrorCheck) {
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
  EXPECT_EQ(m.unlock(), EPERM);  // unlocked
  ASSERT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock(), EDEADLK);
  EXPECT_EQ(m.trylock(), EBUSY);
  timespec ts = abs_after(CLOCK_MONOTONIC, 10 * kMs);
  EXPECT_EQ(m.clocklock(CLOCK_MONOTONIC, &ts), EDEADLK);
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(m.unlock(), EPERM);  // not the owner
    EXPECT_EQ(m.trylock(), EBUSY);
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), EPERM);
}

TEST(Mutex, RecursiveCounts) {
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.lock(), 0);
  ASSERT_EQ(m.trylock(), 0);
  timespec ts = abs_after(CLOCK_REALTIME, 10 * kMs);
  ASSERT_EQ(m.timedlock(&ts), 0);
  EXPECT_EQ(m.count, 4u);
  bool other_locked = false;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(m.unlock(), EPERM);
    EXPECT_EQ(m.trylock(), EBUSY);
    EXPECT_EQ(m.lock(), 0);
    other_locked = true;
    EXPECT_EQ(m.unlock(), 0);
  });
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(m.unlock(), 0);
    yield_n(2);
    EXPECT_FALSE(other_locked) << "released after " << i + 1 << " of 4 unlocks";
  }
  ASSERT_EQ(m.unlock(), 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_TRUE(other_locked);
  EXPECT_EQ(m.unlock(), EPERM);

  // Overflow of the count.
  ASSERT_EQ(m.lock(), 0);
  m.count = UINT32_MAX;
  EXPECT_EQ(m.lock(), EAGAIN);
  EXPECT_EQ(m.trylock(), EAGAIN);
  m.count = 1;
  EXPECT_EQ(m.unlock(), 0);
}

TEST(Mutex, InitRejectsUnknownKind) {
  gh::Mutex m{};
  EXPECT_EQ(m.init(7), EINVAL);
  EXPECT_EQ(m.init(PTHREAD_MUTEX_ADAPTIVE_NP), 0);
  EXPECT_EQ(m.lock(), 0);
  EXPECT_EQ(m.unlock(), 0);
}

TEST(Mutex, TimedLockTimesOutNeverEarly) {
  for (int kind : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK}) {
    for (clockid_t clk : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
      gh::Mutex m{};
      ASSERT_EQ(m.init(kind), 0);
      bool release = false;
      gh::GreenThread* holder = go([&] {
        EXPECT_EQ(m.lock(), 0);
        wait_until_true([&] { return release; });
        EXPECT_EQ(m.unlock(), 0);
      });
      yield_n(1);
      timespec ts = abs_after(clk, 20 * kMs);
      int64_t deadline = gh::timespec_ns(ts);
      EXPECT_EQ(m.clocklock(clk, &ts), ETIMEDOUT) << kind << " " << clk;
      EXPECT_GE(gh::clock_ns(clk), deadline) << "timed out early";
      // Invalid timeouts are EINVAL when the call would block.
      timespec bad{ts.tv_sec, 1'000'000'000};
      EXPECT_EQ(m.clocklock(clk, &bad), EINVAL);
      EXPECT_EQ(m.clocklock(CLOCK_PROCESS_CPUTIME_ID, &ts), EINVAL);
      // A deadline long past times out at once.
      timespec past{0, 0};
      EXPECT_EQ(m.clocklock(clk, &past), ETIMEDOUT);
      release = true;
      ASSERT_EQ(gh::join(holder, nullptr), 0);
      // Free mutex: the timeout is not even looked at (as glibc).
      EXPECT_EQ(m.clocklock(clk, &bad), 0);
      EXPECT_EQ(m.unlock(), 0);
    }
  }
}

TEST(Mutex, TimedLockGetsMutexReleasedBeforeDeadline) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  int rc = -1;
  gh::GreenThread* g = go([&] {
    timespec ts = abs_after(CLOCK_REALTIME, 10'000 * kMs);
    rc = m.timedlock(&ts);
    if (rc == 0) m.unlock();
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&m.state) == 1; }));
  m.unlock();
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(rc, 0);
}

TEST_P(SyncCarriers, MutexMutualExclusion) {
  for (int kind : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK}) {
    gh::Mutex m{};
    ASSERT_EQ(m.init(kind), 0);
    long counter = 0;  // guarded by m; not atomic on purpose
    std::atomic<int> inside{0};
    constexpr int kPer = 8, kIters = 1500;
    run_on_carriers(carriers(), kPer, [&](int idx) {
      for (int i = 0; i < kIters; i++) {
        ASSERT_EQ(m.lock(), 0);
        EXPECT_EQ(inside.fetch_add(1), 0) << "two threads inside";
        counter++;
        if ((i + idx) % 7 == 0) gh::yield();  // hold it across a switch
        inside.fetch_sub(1);
        ASSERT_EQ(m.unlock(), 0);
      }
    });
    EXPECT_EQ(counter, long{carriers()} * kPer * kIters) << "kind " << kind;
    EXPECT_EQ(m.state.load(), 0u);
  }
}

// A waiter parked on carrier A is woken by an unlock on carrier B.
TEST(Mutex, CrossCarrierHandOff) {
  gh::Mutex m{};
  ASSERT_EQ(m.lock(), 0);
  std::atomic<bool> got{false};
  std::thread t([&] {
    EXPECT_EQ(m.lock(), 0);
    got = true;
    EXPECT_EQ(m.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&m.state) == 1; }));
  EXPECT_FALSE(got);
  EXPECT_EQ(m.unlock(), 0);
  t.join();
  EXPECT_TRUE(got);
}

// ---- cond ----

TEST(Cond, SignalWakesOneBroadcastWakesAll) {
  gh::Mutex m{};
  gh::Cond c{};
  constexpr int kN = 5;
  int tokens = 0, waiting = 0, done = 0;  // guarded by m
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < kN; i++)
    gs.push_back(go([&] {
      m.lock();
      waiting++;
      while (tokens == 0) EXPECT_EQ(c.wait(m), 0);
      tokens--;
      done++;
      m.unlock();
    }));
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == kN; }));
  EXPECT_EQ(waiting, kN);

  m.lock();
  tokens = 1;
  EXPECT_EQ(c.signal(), 0);
  m.unlock();
  ASSERT_TRUE(wait_until_true([&] { return done == 1; }));
  yield_n(5);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(gh::futex_parked(&c.seq), kN - 1) << "signal woke more than one";

  m.lock();
  tokens = kN - 1;
  EXPECT_EQ(c.broadcast(), 0);
  m.unlock();
  join_all(gs);
  EXPECT_EQ(done, kN);
  EXPECT_EQ(tokens, 0);
  EXPECT_EQ(c.waiters.load(), 0u);
}

TEST(Cond, SignalWithoutWaitersIsNoop) {
  gh::Cond c{};
  EXPECT_EQ(c.signal(), 0);
  EXPECT_EQ(c.broadcast(), 0);
  EXPECT_EQ(c.seq.load(), 0u);
  EXPECT_EQ(c.destroy(), 0);
}

TEST(Cond, TimedWaitTimesOutNeverEarlyAndRelocks) {
  for (clockid_t attr_clk : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    gh::Cond c{};
    ASSERT_EQ(c.init(attr_clk), 0);
    EXPECT_EQ(c.clock(), attr_clk);
    gh::Mutex m{};
    ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
    ASSERT_EQ(m.lock(), 0);

    timespec ts = abs_after(attr_clk, 20 * kMs);
    EXPECT_EQ(c.timedwait(m, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(attr_clk), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(m.lock(), EDEADLK) << "mutex not re-acquired";

    // The explicit-clock variant, on the other clock.
    clockid_t other = attr_clk == CLOCK_REALTIME ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    ts = abs_after(other, 15 * kMs);
    EXPECT_EQ(c.clockwait(m, other, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(other), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(m.lock(), EDEADLK);

    timespec bad{ts.tv_sec, -1};
    EXPECT_EQ(c.timedwait(m, &bad), EINVAL);
    EXPECT_EQ(c.clockwait(m, CLOCK_THREAD_CPUTIME_ID, &ts), EINVAL);
    EXPECT_EQ(m.unlock(), 0);
    EXPECT_EQ(c.destroy(), 0);
  }
}

TEST(Cond, WaitNeedsOwnedCheckedMutex) {
  gh::Cond c{};
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_ERRORCHECK), 0);
  EXPECT_EQ(c.wait(m), EPERM);
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  EXPECT_EQ(c.wait(m), EPERM);
  EXPECT_EQ(c.waiters.load(), 0u);
}

TEST(Cond, RecursiveMutexFullyReleasedAndCountRestored) {
  gh::Cond c{};
  gh::Mutex m{};
  ASSERT_EQ(m.init(PTHREAD_MUTEX_RECURSIVE), 0);
  bool flag = false;
  gh::GreenThread* helper = go([&] {
    // Gets in only if the waiter released all three levels.
    EXPECT_EQ(m.lock(), 0);
    flag = true;
    EXPECT_EQ(c.signal(), 0);
    EXPECT_EQ(m.unlock(), 0);
  });
  for (int i = 0; i < 3; i++) ASSERT_EQ(m.lock(), 0);
  while (!flag) ASSERT_EQ(c.wait(m), 0);
  EXPECT_EQ(m.count, 3u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), EPERM);
  ASSERT_EQ(gh::join(helper, nullptr), 0);

  // Also on timeout.
  for (int i = 0; i < 2; i++) ASSERT_EQ(m.lock(), 0);
  timespec ts = abs_after(CLOCK_REALTIME, 5 * kMs);
  EXPECT_EQ(c.timedwait(m, &ts), ETIMEDOUT);
  EXPECT_EQ(m.count, 2u);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.unlock(), 0);
}

// A broadcast, then destroy and free at once: the woken waiters must not
// touch the cond after destroy returns (ASan would see it).
TEST(Cond, DestroyRightAfterBroadcast) {
  for (int round = 0; round < 20; round++) {
    auto* c = new gh::Cond{};
    gh::Mutex m{};
    bool go_on = false;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < 4; i++)
      gs.push_back(go([&, c] {
        m.lock();
        while (!go_on) c->wait(m);
        m.unlock();
      }));
    ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c->seq) == 4; }));
    m.lock();
    go_on = true;
    c->broadcast();
    m.unlock();
    EXPECT_EQ(c->destroy(), 0);
    delete c;
    join_all(gs);
  }
}

// Two parties on (up to) two carriers take turns, round after round.
TEST_P(SyncCarriers, CondPingPong) {
  gh::Mutex m{};
  gh::Cond c{};
  int turn = 0;  // guarded by m
  constexpr int kRounds = 2000;
  const int parties = std::max(2, carriers());
  const int per = carriers() == 1 ? parties : 1;
  const int threads = carriers() == 1 ? 1 : parties;
  run_on_carriers(threads, per, [&](int me) {
    for (int r = 0; r < kRounds; r++) {
      ASSERT_EQ(m.lock(), 0);
      while (turn % parties != me) ASSERT_EQ(c.wait(m), 0);
      turn++;
      // Everyone waits on one cond, so only a broadcast is sure to reach
      // the next party.
      ASSERT_EQ(c.broadcast(), 0);
      ASSERT_EQ(m.unlock(), 0);
    }
  });
  EXPECT_EQ(turn, parties * kRounds);
}

// Bounded queue with signal-only conds: producers and consumers on every
// carrier, waking each other across carriers.
TEST_P(SyncCarriers, CondProducerConsumer) {
  gh::Mutex m{};
  gh::Cond not_empty{}, not_full{};
  constexpr int kCap = 4, kItems = 2000;
  int buf[kCap];
  int head = 0, size = 0;  // guarded by m
  std::atomic<long> consumed_sum{0};
  const int pairs = carriers() * 2;
  run_on_carriers(carriers(), 4, [&](int idx) {
    if (idx % 2 == 0) {
      for (int i = 1; i <= kItems; i++) {
        m.lock();
        while (size == kCap) not_full.wait(m);
        buf[(head + size++) % kCap] = i;
        not_empty.signal();
        m.unlock();
      }
    } else {
      for (int i = 0; i < kItems; i++) {
        m.lock();
        while (size == 0) not_empty.wait(m);
        int v = buf[head];
        head = (head + 1) % kCap;
        size--;
        not_full.signal();
        m.unlock();
        consumed_sum += v;
      }
    }
  });
  EXPECT_EQ(consumed_sum.load(), long{pairs} * kItems * (kItems + 1) / 2);
  EXPECT_EQ(size, 0);
}

// A waiter on carrier A, signalled from carrier B.
TEST(Cond, CrossCarrierSignal) {
  gh::Mutex m{};
  gh::Cond c{};
  bool ready = false;
  std::atomic<bool> returned{false};
  std::thread t([&] {
    m.lock();
    while (!ready) EXPECT_EQ(c.wait(m), 0);
    m.unlock();
    returned = true;
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&c.seq) == 1; }));
  m.lock();
  ready = true;
  c.signal();
  m.unlock();
  t.join();
  EXPECT_TRUE(returned);
}

// ---- rwlock ----

TEST(RwLock, ReadersShareWritersExclude) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.rdlock(), 0);
  int readers_in = 0;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(rw.rdlock(), 0);  // shares with the first reader
    readers_in++;
    EXPECT_EQ(rw.tryrdlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(readers_in, 1);
  EXPECT_EQ(rw.trywrlock(), EBUSY);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.unlock(), EPERM);  // not locked

  ASSERT_EQ(rw.wrlock(), 0);
  EXPECT_EQ(rw.wrlock(), EDEADLK);
  EXPECT_EQ(rw.rdlock(), EDEADLK);
  EXPECT_EQ(rw.trywrlock(), EBUSY);
  EXPECT_EQ(rw.tryrdlock(), EBUSY);
  g = go([&] {
    EXPECT_EQ(rw.tryrdlock(), EBUSY);
    EXPECT_EQ(rw.unlock(), EPERM);  // the write lock is not its own
  });
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.state.load(), 0u);
  EXPECT_EQ(rw.destroy(), 0);
  EXPECT_EQ(rw.init(3), EINVAL);
}

TEST(RwLock, TimedLocksTimeOutNeverEarly) {
  for (clockid_t clk : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    gh::RwLock rw{};
    ASSERT_EQ(rw.wrlock(), 0);
    int rd = -1, wr = -1;
    int64_t rd_end = 0, wr_end = 0;
    timespec ts = abs_after(clk, 20 * kMs);
    gh::GreenThread* r = go([&] {
      rd = rw.clockrdlock(clk, &ts);
      rd_end = gh::clock_ns(clk);
    });
    gh::GreenThread* w = go([&] {
      wr = rw.clockwrlock(clk, &ts);
      wr_end = gh::clock_ns(clk);
    });
    ASSERT_EQ(gh::join(r, nullptr), 0);
    ASSERT_EQ(gh::join(w, nullptr), 0);
    EXPECT_EQ(rd, ETIMEDOUT);
    EXPECT_EQ(wr, ETIMEDOUT);
    EXPECT_GE(rd_end, gh::timespec_ns(ts)) << "timed out early";
    EXPECT_GE(wr_end, gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(rw.writers_waiting.load(), 0u);
    EXPECT_EQ(rw.readers_waiting.load(), 0u);
    timespec bad{ts.tv_sec, 1'000'000'000};
    EXPECT_EQ(rw.timedrdlock(&bad), EINVAL);
    EXPECT_EQ(rw.timedwrlock(&bad), EINVAL);
    EXPECT_EQ(rw.unlock(), 0);
    // Available: acquired before the deadline.
    ts = abs_after(clk, 10'000 * kMs);
    EXPECT_EQ(rw.clockrdlock(clk, &ts), 0);
    EXPECT_EQ(rw.unlock(), 0);
    EXPECT_EQ(rw.clockwrlock(clk, &ts), 0);
    EXPECT_EQ(rw.unlock(), 0);
  }
}

TEST(RwLock, ReaderPreferringLetsReadersPassWaitingWriter) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.rdlock(), 0);
  bool wrote = false;
  gh::GreenThread* w = go([&] {
    EXPECT_EQ(rw.wrlock(), 0);
    wrote = true;
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  // A writer waits, yet a new reader gets in.
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.tryrdlock(), 0);
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_FALSE(wrote);
  EXPECT_EQ(rw.unlock(), 0);
  ASSERT_EQ(gh::join(w, nullptr), 0);
  EXPECT_TRUE(wrote);
}

TEST(RwLock, WriterPreferringHoldsNewReadersBack) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.init(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  ASSERT_EQ(rw.rdlock(), 0);
  std::vector<char> order;
  gh::GreenThread* w = go([&] {
    EXPECT_EQ(rw.wrlock(), 0);
    order.push_back('w');
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.tryrdlock(), EBUSY);
    EXPECT_EQ(rw.rdlock(), 0);
    order.push_back('r');
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.read_seq) == 1; }));
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(rw.unlock(), 0);
  ASSERT_EQ(gh::join(w, nullptr), 0);
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_EQ(order, (std::vector<char>{'w', 'r'}));
}

TEST(RwLock, WriterPreferringTimedOutWriterLetsReadersGo) {
  gh::RwLock rw{};
  ASSERT_EQ(rw.init(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
  ASSERT_EQ(rw.rdlock(), 0);
  int wr = -1;
  bool reader_in = false;
  gh::GreenThread* w = go([&] {
    timespec ts = abs_after(CLOCK_MONOTONIC, 30 * kMs);
    wr = rw.clockwrlock(CLOCK_MONOTONIC, &ts);
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&rw.write_seq) == 1; }));
  gh::GreenThread* r = go([&] {
    EXPECT_EQ(rw.rdlock(), 0);  // held back by the writer until it gives up
    reader_in = true;
    EXPECT_EQ(rw.unlock(), 0);
  });
  ASSERT_EQ(gh::join(w, nullptr), 0);
  EXPECT_EQ(wr, ETIMEDOUT);
  ASSERT_TRUE(wait_until_true([&] { return reader_in; }));  // while we still read
  ASSERT_EQ(gh::join(r, nullptr), 0);
  EXPECT_EQ(rw.unlock(), 0);
}

TEST_P(SyncCarriers, RwLockReadersShareWritersExclude) {
  for (uint32_t kind : {0u, uint32_t{PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP}}) {
    gh::RwLock rw{};
    ASSERT_EQ(rw.init(kind), 0);
    std::atomic<int> readers{0}, writers{0}, max_readers{0};
    long data = 0;  // written under the write lock
    constexpr int kPer = 6, kIters = 600;
    run_on_carriers(carriers(), kPer, [&](int idx) {
      for (int i = 0; i < kIters; i++) {
        if ((idx + i) % 4 == 0) {
          ASSERT_EQ(rw.wrlock(), 0);
          EXPECT_EQ(writers.fetch_add(1), 0);
          EXPECT_EQ(readers.load(), 0);
          data++;
          if (i % 3 == 0) gh::yield();
          writers.fetch_sub(1);
          ASSERT_EQ(rw.unlock(), 0);
        } else {
          ASSERT_EQ(rw.rdlock(), 0);
          int n = readers.fetch_add(1) + 1;
          int m = max_readers.load();
          while (n > m && !max_readers.compare_exchange_weak(m, n)) {
          }
          EXPECT_EQ(writers.load(), 0);
          gh::yield();  // let other readers join in
          readers.fetch_sub(1);
          ASSERT_EQ(rw.unlock(), 0);
        }
      }
    });
    int n_writes = 0;
    for (int idx = 0; idx < carriers() * kPer; idx++)
      for (int i = 0; i < kIters; i++) n_writes += (idx + i) % 4 == 0;
    EXPECT_EQ(data, n_writes);
    EXPECT_GT(max_readers.load(), 1) << "readers never shared the lock";
    EXPECT_EQ(rw.state.load(), 0u);
  }
}

// ---- semaphore ----

TEST(Semaphore, CountsAndLimits) {
  gh::Semaphore s{};
  EXPECT_EQ(s.init(uint32_t{SEM_VALUE_MAX} + 1), EINVAL);
  ASSERT_EQ(s.init(2), 0);
  EXPECT_EQ(s.getvalue(), 2);
  EXPECT_EQ(s.trywait(), 0);
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.trywait(), EAGAIN);
  EXPECT_EQ(s.getvalue(), 0);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.getvalue(), 1);

  ASSERT_EQ(s.init(SEM_VALUE_MAX), 0);
  EXPECT_EQ(s.post(), EOVERFLOW);
  EXPECT_EQ(s.getvalue(), SEM_VALUE_MAX);
  EXPECT_EQ(s.trywait(), 0);
  EXPECT_EQ(s.post(), 0);
}

TEST(Semaphore, TimedWaitTimesOutNeverEarly) {
  for (clockid_t clk : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    gh::Semaphore s{};
    timespec ts = abs_after(clk, 20 * kMs);
    EXPECT_EQ(s.clockwait(clk, &ts), ETIMEDOUT);
    EXPECT_GE(gh::clock_ns(clk), gh::timespec_ns(ts)) << "timed out early";
    EXPECT_EQ(s.waiters.load(), 0u);
    EXPECT_EQ(s.getvalue(), 0);
    // Bad timeouts are EINVAL even when a token is there (glibc checks first).
    ASSERT_EQ(s.post(), 0);
    timespec bad{ts.tv_sec, 1'000'000'000};
    EXPECT_EQ(s.clockwait(clk, &bad), EINVAL);
    EXPECT_EQ(s.clockwait(CLOCK_BOOTTIME, &ts), EINVAL);
    ts = abs_after(clk, 10'000 * kMs);
    EXPECT_EQ(s.clockwait(clk, &ts), 0);
  }
  gh::Semaphore s{};
  timespec ts = abs_after(CLOCK_REALTIME, 5 * kMs);
  EXPECT_EQ(s.timedwait(&ts), ETIMEDOUT);
  EXPECT_GE(gh::clock_ns(CLOCK_REALTIME), gh::timespec_ns(ts));
}

TEST(Semaphore, PostWakesParkedWaiter) {
  gh::Semaphore s{};
  int got = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 3; i++)
    gs.push_back(go([&] {
      EXPECT_EQ(s.wait(), 0);
      got++;
    }));
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&s.word) == 3; }));
  EXPECT_EQ(s.post(), 0);
  ASSERT_TRUE(wait_until_true([&] { return got == 1; }));
  yield_n(3);
  EXPECT_EQ(got, 1);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.post(), 0);
  join_all(gs);
  EXPECT_EQ(got, 3);
  EXPECT_EQ(s.getvalue(), 0);
  EXPECT_EQ(s.waiters.load(), 0u);
}

TEST_P(SyncCarriers, SemaphoreProducersConsumers) {
  gh::Semaphore items{};
  constexpr int kItems = 3000;
  std::atomic<long> taken{0};
  run_on_carriers(carriers(), 4, [&](int idx) {
    for (int i = 0; i < kItems; i++) {
      if (idx % 2 == 0) {
        ASSERT_EQ(items.post(), 0);
        if (i % 5 == 0) gh::yield();
      } else {
        if (i % 3 == 0) {
          timespec ts = abs_after(CLOCK_MONOTONIC, 10'000 * kMs);
          ASSERT_EQ(items.clockwait(CLOCK_MONOTONIC, &ts), 0);
        } else {
          ASSERT_EQ(items.wait(), 0);
        }
        taken++;
      }
    }
  });
  EXPECT_EQ(taken.load(), long{carriers()} * 2 * kItems);
  EXPECT_EQ(items.getvalue(), 0);
  EXPECT_EQ(items.waiters.load(), 0u);
}

// The waiter frees the semaphore as soon as it has its token, while the
// poster (on another carrier) may still be inside post(): post must not
// touch the memory after publishing the token (ASan checks).
TEST(Semaphore, WaiterMayFreeRightAfterPost) {
  constexpr int kRounds = 300;
  std::atomic<gh::Semaphore*> slot{nullptr};
  std::thread poster([&] {
    for (int i = 0; i < kRounds; i++) {
      gh::Semaphore* s;
      ASSERT_TRUE(wait_until_true([&] { return (s = slot.exchange(nullptr)) != nullptr; }));
      EXPECT_EQ(s->post(), 0);
    }
  });
  for (int i = 0; i < kRounds; i++) {
    auto* s = new gh::Semaphore{};
    slot = s;
    EXPECT_EQ(s->wait(), 0);
    delete s;
  }
  poster.join();
}

TEST(Semaphore, CrossCarrierWake) {
  gh::Semaphore s{};
  std::atomic<bool> got{false};
  std::thread t([&] {
    EXPECT_EQ(s.wait(), 0);
    got = true;
  });
  ASSERT_TRUE(wait_until_true([&] { return gh::futex_parked(&s.word) == 1; }));
  EXPECT_FALSE(got);
  EXPECT_EQ(s.post(), 0);
  t.join();
  EXPECT_TRUE(got);
}

// ---- barrier ----

TEST(Barrier, InitRejectsZero) {
  gh::Barrier b{};
  EXPECT_EQ(b.init(0), EINVAL);
  EXPECT_EQ(b.wait(), EINVAL);
}

TEST_P(SyncCarriers, BarrierSerialOncePerRound) {
  constexpr int kPer = 5, kRounds = 40;
  const int n = carriers() * kPer;
  gh::Barrier b{};
  ASSERT_EQ(b.init(n), 0);
  std::vector<std::atomic<int>> arrived(kRounds), serial(kRounds);
  run_on_carriers(carriers(), kPer, [&](int) {
    for (int r = 0; r < kRounds; r++) {
      arrived[r]++;
      int rc = b.wait();
      ASSERT_TRUE(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD) << rc;
      if (rc == PTHREAD_BARRIER_SERIAL_THREAD) serial[r]++;
      // Nobody leaves a round before everyone arrived in it.
      EXPECT_EQ(arrived[r].load(), n);
    }
  });
  for (int r = 0; r < kRounds; r++) EXPECT_EQ(serial[r].load(), 1) << "round " << r;
  EXPECT_EQ(b.destroy(), 0);
}

TEST(Barrier, ExtraThreadsFormTheNextRound) {
  gh::Barrier b{};
  ASSERT_EQ(b.init(2), 0);
  int serial = 0, released = 0;
  std::vector<gh::GreenThread*> gs;
  for (int i = 0; i < 4; i++)
    gs.push_back(go([&] {
      if (b.wait() == PTHREAD_BARRIER_SERIAL_THREAD) serial++;
      released++;
    }));
  join_all(gs);
  EXPECT_EQ(serial, 2);
  EXPECT_EQ(released, 4);
  // A round in progress keeps destroy away.
  gh::GreenThread* g = go([&] { b.wait(); });
  yield_n(2);
  EXPECT_EQ(b.destroy(), EBUSY);
  EXPECT_EQ(b.wait(), PTHREAD_BARRIER_SERIAL_THREAD);
  ASSERT_EQ(gh::join(g, nullptr), 0);
}

// The serial thread destroys and frees the barrier while others may still
// be on their way out of wait (ASan checks).
TEST_P(SyncCarriers, BarrierDestroyRightAfterWait) {
  for (int round = 0; round < 20; round++) {
    auto* b = new gh::Barrier{};
    ASSERT_EQ(b->init(carriers() * 3), 0);
    run_on_carriers(carriers(), 3, [b](int) {
      if (b->wait() == PTHREAD_BARRIER_SERIAL_THREAD) {
        EXPECT_EQ(b->destroy(), 0);
        delete b;
      }
    });
  }
}

// ---- once ----

std::atomic<int> g_once_calls{0};
std::atomic<bool> g_once_done{false};
void once_fn_that_parks() {
  g_once_calls++;
  gh::sleep_for(5 * kMs);  // park: the others must wait, not run it again
  gh::yield();
  g_once_done = true;
}

TEST_P(SyncCarriers, OnceRunsExactlyOnceWhileOthersPark) {
  g_once_calls = 0;
  g_once_done = false;
  std::atomic<int> control{PTHREAD_ONCE_INIT};
  run_on_carriers(carriers(), 6, [&](int) {
    EXPECT_EQ(gh::once(&control, &once_fn_that_parks), 0);
    EXPECT_TRUE(g_once_done.load()) << "returned before fn finished";
  });
  EXPECT_EQ(g_once_calls.load(), 1);
  EXPECT_EQ(control.load(), gh::kOnceDone);
  EXPECT_EQ(gh::once(&control, &once_fn_that_parks), 0);
  EXPECT_EQ(g_once_calls.load(), 1);
}

int g_throw_calls = 0;
void once_fn_throws_first() {
  if (g_throw_calls++ == 0) throw std::runtime_error("first");
}

TEST(Once, ExceptionResetsAndOthersRetry) {
  std::atomic<int> control{PTHREAD_ONCE_INIT};
  g_throw_calls = 0;
  EXPECT_THROW(gh::once(&control, &once_fn_throws_first), std::runtime_error);
  EXPECT_EQ(control.load(), gh::kOnceInit);
  EXPECT_EQ(gh::once(&control, &once_fn_throws_first), 0);
  EXPECT_EQ(g_throw_calls, 2);
  EXPECT_EQ(gh::once(nullptr, &once_fn_throws_first), EINVAL);
}

TEST(Once, ControlCompletedByGlibcCountsAsDone) {
  static pthread_once_t po = PTHREAD_ONCE_INIT;
  static int calls = 0;
  ASSERT_EQ(pthread_once(&po, [] { calls++; }), 0);  // glibc's own
  auto* control = reinterpret_cast<std::atomic<int>*>(&po);
  EXPECT_EQ(gh::once(control, [] { calls++; }), 0);
  EXPECT_EQ(calls, 1);
}

// ---- spin ----

TEST(Spin, HolderOnSameCarrierGetsToRun) {
  gh::Spin s{};
  ASSERT_EQ(s.lock(), 0);
  bool got = false;
  gh::GreenThread* g = go([&] {
    EXPECT_EQ(s.trylock(), EBUSY);
    EXPECT_EQ(s.lock(), 0);  // yields to the holder instead of spinning forever
    got = true;
    EXPECT_EQ(s.unlock(), 0);
  });
  yield_n(3);  // it spins and yields back to us
  EXPECT_FALSE(got);
  EXPECT_EQ(s.unlock(), 0);
  ASSERT_EQ(gh::join(g, nullptr), 0);
  EXPECT_TRUE(got);
}

TEST_P(SyncCarriers, SpinMutualExclusion) {
  gh::Spin s{};
  long counter = 0;
  constexpr int kPer = 4, kIters = 2000;
  run_on_carriers(carriers(), kPer, [&](int i) {
    for (int k = 0; k < kIters; k++) {
      s.lock();
      counter++;
      if ((k + i) % 11 == 0) gh::yield();
      s.unlock();
    }
  });
  EXPECT_EQ(counter, long{carriers()} * kPer * kIters);
}

}  // namespace
