// SPDX-License-Identifier: MIT
// Helpers shared by the unit tests: spawning and waiting for green threads,
// running code on fresh carriers (one per OS thread), and the leak check
// that main.cc applies after every test (carrier_leaks()).
#pragma once

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "core/parking_lot.h"
#include "ioring/ring.h"

namespace gh_test {

constexpr int64_t kMs = 1'000'000;

// ThreadSanitizer keeps state per green thread (each is a TSan fiber) and
// allows about 8,000 at once: tests of scale use fewer there.
#if defined(__SANITIZE_THREAD__)
constexpr int scaled(int n) { return n < 4000 ? n : 4000; }
#else
constexpr int scaled(int n) { return n; }
#endif
// Upper bound for any wait on a condition; generous for sanitizer builds.
constexpr int64_t kPatience = 20'000 * kMs;

// What carrier c still holds beyond a clean state, or "" if nothing:
//  - green threads other than the root (live() counts the root);
//  - ring requests in flight: Backend::inflight() counts the tracked
//    Requests (ioring::Ring::track) without a completion yet. It does not
//    count the carrier's own wake-up eventfd read, which stays armed for the
//    carrier's lifetime once it has waited, nor the untracked linked
//    timeouts and cancel SQEs (user_data kUserIgnore), which point at no
//    test memory. So a clean carrier has exactly 0;
//  - pooled stacks acquired and not released (a thread that exited has its
//    stack released by the next switch, so by the time the root runs again
//    every finished thread's stack is back);
//  - armed timers (each lives on some green thread's stack).
//  Counted over every carrier of c's pool: green threads move between them.
inline int64_t idle_stacks(gh::Pool* p) {
  int64_t n = 0;
  for (int i = 0; i < p->slots(); i++)
    if (gh::Carrier* x = p->slot(i)) n += x->has_idle_context() ? 1 : 0;
  return n;
}

inline std::string carrier_leaks(gh::Carrier* c) {
  std::string out;
  auto add = [&out](int64_t n, const char* what) {
    if (n == 0) return;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + what;
  };
  gh::Pool* p = c->pool();
  int64_t inflight = 0, stacks = 0, timers = 0;
  for (int i = 0; i < p->slots(); i++) {
    gh::Carrier* x = p->slot(i);
    if (!x) continue;
    inflight += x->backend() ? x->backend()->inflight() : 0;
    stacks += x->stacks().in_use();
    timers += static_cast<int64_t>(x->timers_armed());
  }
  add(static_cast<int64_t>(c->live()) - 1, "green thread(s) alive besides the root");
  add(inflight, "ring request(s) in flight");
  // A carrier's idle context holds one stack for the carrier's lifetime.
  add(stacks - idle_stacks(p), "pooled stack(s) not released");
  add(timers, "timer(s) still armed");
  return out;
}

// Fails the current test if the calling OS thread's carrier (if any) is not
// clean; `where` says which check this is.
inline void expect_no_leaks_here(const char* where) {
  gh::Carrier* c = gh::Carrier::current();
  if (!c) return;
  std::string leaks = carrier_leaks(c);
  if (!leaks.empty()) ADD_FAILURE() << "leak check (" << where << "): " << leaks;
}

// The kernel's signal-set bit of sig.
inline uint64_t sig_bit(int sig) { return uint64_t{1} << (sig - 1); }

// The calling OS thread's signal mask.
inline uint64_t os_sigmask() {
  uint64_t m = 0;
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &m, sizeof m);
  return m;
}

// Sets the running green thread's mask, as the shim's pthread_sigmask does:
// the OS thread's, then the carrier's record of it. (Carrier::get(), not the
// inline current(): GCC 12's UBSan null check of the thread_local's
// address, inlined here, tested the flags of its TLS-init check and
// reported a null load that was not there.)
inline void set_thread_sigmask(uint64_t mask) {
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
  gh::Carrier::get()->set_running_sigmask(mask);
}

// PoolOptions::start_thread for tests: a detached std::thread.
inline int start_std_thread(void* (*fn)(void*), void* arg, const char*) {
  std::thread([fn, arg] { fn(arg); }).detach();
  return 0;
}

// Spawns fn as a green thread on the calling carrier (stack 0: the default).
inline gh::GreenThread* go(std::function<void()> fn, size_t stack = 0) {
  auto* p = new std::function<void()>(std::move(fn));
  gh::SpawnOptions o;
  o.stack_size = stack;
  gh::GreenThread* g = nullptr;
  int rc = gh::spawn(
      [](void* a) -> void* {
        auto* f = static_cast<std::function<void()>*>(a);
        (*f)();
        delete f;
        return nullptr;
      },
      p, o, &g);
  EXPECT_EQ(rc, 0);
  return g;
}

inline void join(gh::GreenThread* g) { ASSERT_EQ(gh::join(g, nullptr), 0); }

inline void join_all(std::vector<gh::GreenThread*>& gs) {
  for (auto* g : gs) ASSERT_EQ(gh::join(g, nullptr), 0);
  gs.clear();
}

// Yields until pred() holds; false once limit_ns has passed. After
// `yields_before_sleeping` yields it sleeps 50 us between tries (other
// carriers are doing the work); a negative value never sleeps.
template <class Pred>
bool poll_until(Pred&& pred, int64_t limit_ns, int yields_before_sleeping) {
  int64_t give_up = gh::deadline_after(limit_ns);
  for (int i = 0; !pred(); i++) {
    if (gh::mono_ns() > give_up) return false;
    if (yields_before_sleeping < 0 || i < yields_before_sleeping)
      gh::yield();
    else
      gh::sleep_for(50'000);
  }
  return true;
}

// Yields until pred() holds; fails after many rounds (never a sleep).
inline bool yield_until(const std::function<bool()>& pred, int64_t limit_ns = 10'000 * kMs) {
  return poll_until(pred, limit_ns, -1);
}

// Lets other green threads (and carriers) run until pred() holds. Returns
// false after kPatience.
template <class Pred>
bool wait_until_true(Pred pred) {
  return poll_until(pred, kPatience, 1000);
}

// Yields n times: on one carrier, every runnable green thread gets to run.
inline void yield_n(int n) {
  for (int i = 0; i < n; i++) gh::yield();
}

inline timespec abs_after(clockid_t clk, int64_t ns) {
  return gh::ns_timespec(gh::clock_ns(clk) + ns);
}

// Runs fn as the root green thread of a fresh carrier on a new OS thread,
// with `opts` in force for that thread's ring, then checks that fn left
// nothing behind on that carrier (destroyed when the thread exits).
inline void on_fresh_carrier(const std::function<void()>& fn,
                             const gh::ioring::RingOptions& opts = gh::ioring::RingOptions{}) {
  gh::ioring::set_ring_options(opts);
  std::thread t([&] {
    fn();
    expect_no_leaks_here("fresh carrier, after the test body");
  });
  t.join();
  gh::ioring::set_ring_options(gh::ioring::RingOptions{});
}

// Runs body(index) on `per` green threads on each of `carriers` OS threads
// (index = carrier * per + thread), waits for all of them, and checks each
// of those carriers for leaks.
inline void run_on_carriers(int carriers, int per, const std::function<void(int)>& body) {
  std::vector<std::thread> ts;
  for (int c = 0; c < carriers; c++) {
    ts.emplace_back([c, per, &body] {
      std::vector<gh::GreenThread*> gs;
      for (int t = 0; t < per; t++) gs.push_back(go([&body, i = c * per + t] { body(i); }));
      join_all(gs);
      expect_no_leaks_here("run_on_carriers");
    });
  }
  for (auto& t : ts) t.join();
}

// Where expect_parked_until_released runs the blocking call.
enum class On { kThisCarrier, kOtherCarrier };

// Runs `blocking` on a new green thread of this carrier, or on another
// carrier (a new OS thread); waits until one waiter is parked on futex word
// `word` and checks that `blocking` has not returned; runs `release` here;
// then waits for `blocking` to finish and checks that it returned.
inline void expect_parked_until_released(On where, const std::function<void()>& blocking,
                                         const void* word, const std::function<void()>& release) {
  std::atomic<bool> got{false};
  auto body = [&] {
    blocking();
    got = true;
  };
  gh::GreenThread* g = nullptr;
  std::thread t;
  if (where == On::kThisCarrier)
    g = go(body);
  else
    t = std::thread(body);
  // Not ASSERT: the waiter must be released and joined whatever happened.
  EXPECT_TRUE(wait_until_true([&] { return gh::futex_parked(word) == 1; })) << "never parked";
  EXPECT_FALSE(got);
  release();
  if (g) {
    EXPECT_EQ(gh::join(g, nullptr), 0);
  }
  if (t.joinable()) t.join();
  EXPECT_TRUE(got);
}

// Fixture parameterised by the number of carriers (as in google/marl).
// Instantiated once, for 1, 2 and 4 carriers, in sync_carriers.cc.
class SyncCarriers : public ::testing::TestWithParam<int> {
 protected:
  int carriers() const { return GetParam(); }
};

}  // namespace gh_test
