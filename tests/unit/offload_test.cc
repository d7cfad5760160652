// SPDX-License-Identifier: MIT
// The offload pool (core/offload.h): calls run on a pool thread while the
// caller parks; errno travels with them; interruptible jobs start at once
// whatever the pool's limit and end with EINTR when a signal handler (here
// simulated with Carrier::signal_arrived) interrupts their caller.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <cerrno>
#include <vector>

#include "core/offload.h"
#include "test_util.h"

using gh_test::go;
using gh_test::on_fresh_carrier;

namespace {

const int kInterruptSignal = SIGRTMAX;
constexpr int kMaxThreads = 2;

int start_thread(void* (*fn)(void*), void* arg, const char*) {
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &a, fn, arg);
  pthread_attr_destroy(&a);
  return rc;
}

void noop(int) {}

// The pool as the shim sets it up, once before use: a starter, a small
// limit, the interrupt signal with a handler that does not restart calls.
void configure() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = &noop;
    sigaction(kInterruptSignal, &sa, nullptr);
    gh::offload_configure(&start_thread, kMaxThreads, kInterruptSignal);
  });
}

struct Pipe {
  int rd = -1, wr = -1;
  Pipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    rd = p[0];
    wr = p[1];
  }
  ~Pipe() {
    close(rd);
    close(wr);
  }
  void put(char c) { ASSERT_EQ(write(wr, &c, 1), 1); }
};

// Interrupts green thread g's interruptible wait as a signal handler run for
// it would (restarting: an SA_RESTART handler), from another green thread
// of the same carrier; the interruption is delivered at the next switch.
void interrupt(gh::GreenThread* g, bool restarting) {
  gh::Carrier* c = gh::Carrier::current();
  c->set_signal_target(g);
  c->signal_arrived(restarting);
  gh::yield();
}

}  // namespace

TEST(Offload, CallRunsElsewhereWithErrno) {
  configure();
  on_fresh_carrier([] {
    pthread_t caller = pthread_self();
    pthread_t ran_on{};
    errno = 0;
    int r = gh::offload_call([&] {
      ran_on = pthread_self();
      errno = ENOENT;
      return -1;
    });
    EXPECT_EQ(r, -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_FALSE(pthread_equal(caller, ran_on));
  });
}

TEST(Offload, InterruptibleWaitsWhileOthersRun) {
  configure();
  on_fresh_carrier([] {
    Pipe p;
    char got = 0;
    long r = 0;
    gh::GreenThread* g =
        go([&] { r = gh::offload_call_interruptible(false, [&] { return read(p.rd, &got, 1); }); });
    // This green thread runs while g's call waits on a pool thread.
    for (int i = 0; i < 10; i++) gh::yield();
    p.put('x');
    gh_test::join(g);
    EXPECT_EQ(r, 1);
    EXPECT_EQ(got, 'x');
  });
}

TEST(Offload, SignalHandlerInterruptsTheCall) {
  configure();
  on_fresh_carrier([] {
    Pipe p;
    char got = 0;
    long r = 0;
    int err = 0;
    std::atomic<bool> entered{false};
    gh::GreenThread* g = go([&] {
      r = gh::offload_call_interruptible(false, [&] {
        entered = true;
        return read(p.rd, &got, 1);
      });
      err = errno;
    });
    // On the pool thread: the interruption must reach it there (a signal
    // that comes just before the read is sent again until it returns).
    ASSERT_TRUE(gh_test::yield_until([&] { return entered.load(); }));
    interrupt(g, false);
    gh_test::join(g);
    EXPECT_EQ(r, -1);
    EXPECT_EQ(err, EINTR);
    // The interrupted read took nothing: the byte is still there for us.
    p.put('y');
    char c = 0;
    EXPECT_EQ(read(p.rd, &c, 1), 1);
    EXPECT_EQ(c, 'y');

    // The pool thread that was interrupted takes the next waiting call
    // without a stale interrupt ending it early.
    r = 0;
    g = go([&] { r = gh::offload_call_interruptible(false, [&] { return read(p.rd, &got, 1); }); });
    for (int i = 0; i < 20; i++) gh::yield();
    p.put('z');
    gh_test::join(g);
    EXPECT_EQ(r, 1);
    EXPECT_EQ(got, 'z');
  });
}

TEST(Offload, RestartableCallSurvivesRestartingHandler) {
  configure();
  on_fresh_carrier([] {
    Pipe p;
    char got = 0;
    long r = 0;
    gh::GreenThread* g =
        go([&] { r = gh::offload_call_interruptible(true, [&] { return read(p.rd, &got, 1); }); });
    gh::yield();
    interrupt(g, true);
    p.put('r');
    gh_test::join(g);
    EXPECT_EQ(r, 1);
    EXPECT_EQ(got, 'r');
  });
}

// Calls that wait for one another must all be under way at once, beyond the
// pool's limit: each waits for all of them to have started.
TEST(Offload, InterruptibleJobsAreNotLimited) {
  configure();
  on_fresh_carrier([] {
    constexpr int kJobs = 4 * kMaxThreads;
    std::vector<Pipe> pipes(kJobs);
    std::atomic<int> entered{0};
    std::vector<long> r(kJobs, 0);
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kJobs; i++) {
      gs.push_back(go([&, i] {
        r[i] = gh::offload_call_interruptible(false, [&] {
          entered.fetch_add(1);
          char c;
          return read(pipes[i].rd, &c, 1);
        });
      }));
    }
    EXPECT_TRUE(gh_test::yield_until([&] { return entered.load() == kJobs; }));
    for (int i = kJobs - 1; i >= 0; i--) pipes[i].put('g');
    gh_test::join_all(gs);
    for (int i = 0; i < kJobs; i++) EXPECT_EQ(r[i], 1) << "job " << i;
  });
}

// Threads waiting for other parties leave the pool's usual threads to short
// jobs: a plain call runs while more than max_threads of them wait.
TEST(Offload, ShortJobsRunWhileLongWaitsFillThePool) {
  configure();
  on_fresh_carrier([] {
    constexpr int kWaiting = kMaxThreads + 1;
    std::vector<Pipe> pipes(kWaiting);
    std::atomic<int> entered{0};
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kWaiting; i++) {
      gs.push_back(go([&, i] {
        gh::offload_call_interruptible(false, [&] {
          entered.fetch_add(1);
          char c;
          return read(pipes[i].rd, &c, 1);
        });
      }));
    }
    ASSERT_TRUE(gh_test::yield_until([&] { return entered.load() == kWaiting; }));
    std::atomic<bool> short_done{false};
    gs.push_back(go([&] {
      gh::offload_call([] { return 0; });
      short_done = true;
    }));
    EXPECT_TRUE(gh_test::yield_until([&] { return short_done.load(); }, 5'000 * gh_test::kMs));
    for (auto& p : pipes) p.put('x');
    gh_test::join_all(gs);
  });
}
