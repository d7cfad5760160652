// SPDX-License-Identifier: MIT
// C++ threads: std::thread, std::mutex, std::condition_variable, std::async,
// exceptions inside threads, and pthread_exit unwinding a thread's stack
// (local objects' destructors run, catch (...) sees the forced unwind and
// rethrows).
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace {

std::mutex g_log_mu;
std::vector<std::string> g_log;

void log(const std::string& s) {
  std::lock_guard<std::mutex> lk(g_log_mu);
  g_log.push_back(s);
}

struct Noisy {
  std::string name;
  explicit Noisy(std::string n) : name(std::move(n)) {}
  ~Noisy() { log("~" + name); }
};

void exit_from_deep(int depth) {
  Noisy n("frame" + std::to_string(depth));
  if (depth == 0) pthread_exit(reinterpret_cast<void*>(42));
  exit_from_deep(depth - 1);
}

void* exiting_thread(void*) {
  Noisy outer("outer");
  try {
    exit_from_deep(2);
  } catch (...) {
    log("catch(...) saw the unwind");
    throw;  // a forced unwind must be rethrown
  }
  log("not reached");
  return nullptr;
}

// pthread_cancel of a thread blocked in std::condition_variable::wait deep
// in its stack: the same unwinding, with the lock held again (unique_lock's
// destructor unlocks it; a later lock by main proves it was released).
std::mutex g_cancel_mu;
std::condition_variable g_cancel_cv;
std::atomic<bool> g_cancel_ready{false};

void wait_deep(int depth) {
  Noisy n("wframe" + std::to_string(depth));
  if (depth == 0) {
    std::unique_lock<std::mutex> lk(g_cancel_mu);
    g_cancel_ready = true;
    for (;;) g_cancel_cv.wait(lk);  // never notified
  }
  wait_deep(depth - 1);
}

void* cancelled_thread(void*) {
  Noisy outer("outer");
  try {
    wait_deep(2);
  } catch (...) {
    log("catch(...) saw the cancellation");
    throw;
  }
  return nullptr;
}

// A producer/consumer queue with a mutex and two condition variables.
struct Queue {
  std::mutex mu;
  std::condition_variable not_empty, not_full;
  std::vector<int> items;
  size_t cap = 4;
  bool closed = false;

  void put(int v) {
    std::unique_lock<std::mutex> lk(mu);
    not_full.wait(lk, [&] { return items.size() < cap; });
    items.push_back(v);
    not_empty.notify_one();
  }
  bool get(int* v) {
    std::unique_lock<std::mutex> lk(mu);
    not_empty.wait(lk, [&] { return !items.empty() || closed; });
    if (items.empty()) return false;
    *v = items.front();
    items.erase(items.begin());
    not_full.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lk(mu);
    closed = true;
    not_empty.notify_all();
  }
};

}  // namespace

int main() {
  test_start();

  // pthread_exit unwinds: destructors innermost first, catch (...) rethrows.
  {
    pthread_t t;
    pthread_create(&t, nullptr, exiting_thread, nullptr);
    void* v = nullptr;
    pthread_join(t, &v);
    std::printf("pthread_exit value %ld; unwinding:",
                static_cast<long>(reinterpret_cast<intptr_t>(v)));
    for (auto& s : g_log) std::printf(" %s;", s.c_str());
    std::printf("\n");
    g_log.clear();
  }

  // pthread_cancel unwinds the same way from a condition variable wait.
  {
    pthread_t t;
    pthread_create(&t, nullptr, cancelled_thread, nullptr);
    while (!g_cancel_ready) std::this_thread::yield();
    int rc = pthread_cancel(t);
    void* v = nullptr;
    pthread_join(t, &v);
    bool relocked = g_cancel_mu.try_lock();
    if (relocked) g_cancel_mu.unlock();
    std::printf("pthread_cancel %d, canceled %d, mutex free %d; unwinding:", rc,
                v == PTHREAD_CANCELED, relocked);
    for (auto& s : g_log) std::printf(" %s;", s.c_str());
    std::printf("\n");
    g_log.clear();
  }

  // std::thread with a mutex-protected counter.
  {
    std::mutex mu;
    long counter = 0;
    std::vector<std::thread> ts;
    // The threads wait until main has counted them: finished before that,
    // they would not be counted (natively one OS thread was seen under load).
    std::mutex gate_mu;
    std::condition_variable gate_cv;
    bool sampled = false;
    for (int i = 0; i < 8; i++)
      ts.emplace_back([&] {
        {
          std::unique_lock<std::mutex> lk(gate_mu);
          gate_cv.wait(lk, [&] { return sampled; });
        }
        for (int k = 0; k < 1000; k++) {
          std::lock_guard<std::mutex> lk(mu);
          counter++;
          if (k % 100 == 0) std::this_thread::yield();
        }
      });
    tasks_sample();
    {
      std::lock_guard<std::mutex> lk(gate_mu);
      sampled = true;
    }
    gate_cv.notify_all();
    for (auto& t : ts) t.join();
    std::printf("8 std::threads x 1000 locked increments: %ld\n", counter);
  }

  // producers and consumers over condition variables
  {
    Queue q;
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> consumers, producers;
    for (int i = 0; i < 3; i++)
      consumers.emplace_back([&] {
        int v;
        while (q.get(&v)) {
          sum += v;
          count++;
        }
      });
    for (int p = 0; p < 4; p++)
      producers.emplace_back([&, p] {
        for (int k = 1; k <= 250; k++) q.put(p * 1000 + k);
      });
    for (auto& t : producers) t.join();
    q.close();
    for (auto& t : consumers) t.join();
    std::printf("queue: %d items, sum %ld\n", count.load(), sum.load());
  }

  // condition_variable::wait_for times out
  {
    std::mutex mu;
    std::condition_variable cv;
    std::unique_lock<std::mutex> lk(mu);
    auto t0 = std::chrono::steady_clock::now();
    bool woke = cv.wait_for(lk, std::chrono::milliseconds(50), [] { return false; });
    auto dt = std::chrono::steady_clock::now() - t0;
    std::printf("wait_for 50ms: predicate %s, not early: %s\n", woke ? "true" : "false",
                dt >= std::chrono::milliseconds(50) ? "ok" : "FAIL");
  }

  // exceptions thrown and caught inside threads; std::async and futures
  {
    auto f = std::async(std::launch::async, [] {
      try {
        throw std::runtime_error("inside");
      } catch (const std::exception& e) {
        return std::string("caught ") + e.what();
      }
    });
    std::printf("async: %s\n", f.get().c_str());
    auto g =
        std::async(std::launch::async, []() -> int { throw std::logic_error("to the joiner"); });
    try {
      g.get();
    } catch (const std::logic_error& e) {
      std::printf("future rethrew: %s\n", e.what());
    }
    // (std::promise / std::future waits between threads are in cxx_futex.cc)
  }

  // std::thread::hardware_concurrency and ids
  {
    std::thread::id main_id = std::this_thread::get_id();
    std::thread::id seen;
    std::thread t([&] { seen = std::this_thread::get_id(); });
    std::thread::id tid = t.get_id();
    t.join();
    std::printf("thread ids: distinct from main %s, get_id matches %s\n",
                seen != main_id ? "yes" : "no", seen == tid ? "yes" : "no");
  }

  return test_end();
}
