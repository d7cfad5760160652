// SPDX-License-Identifier: MIT
// C++ waits that libstdc++ implements with raw futex system calls made
// through libc's syscall() rather than with pthread objects: std::promise /
// std::future handed between threads, C++20 std::atomic<T>::wait/notify,
// std::latch, std::counting_semaphore.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <latch>
#include <semaphore>
#include <thread>
#include <vector>

#include "common.h"

int main() {
  test_start();

  {
    std::promise<int> pr;
    std::future<int> fu = pr.get_future();
    std::thread setter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      pr.set_value(7);
    });
    tasks_sample();
    std::printf("promise value: %d\n", fu.get());
    setter.join();
  }

  {
    std::promise<void> go;
    std::shared_future<void> sf = go.get_future().share();
    std::atomic<int> ran{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
      ts.emplace_back([&, sf] {
        sf.wait();
        ran++;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    go.set_value();
    for (auto& t : ts) t.join();
    std::printf("shared_future released %d waiters\n", ran.load());
  }

  {
    std::atomic<int> flag{0};
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      flag.store(1);
      flag.notify_one();
    });
    flag.wait(0);
    std::printf("atomic wait/notify: %d\n", flag.load());
    t.join();
  }

  {
    std::latch done(4);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++) ts.emplace_back([&] { done.count_down(); });
    done.wait();
    for (auto& t : ts) t.join();
    std::printf("latch reached zero\n");
  }

  {
    std::counting_semaphore<8> sem(0);
    std::atomic<int> got{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; i++)
      ts.emplace_back([&] {
        sem.acquire();
        got++;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    sem.release(3);
    for (auto& t : ts) t.join();
    std::printf("counting_semaphore released %d\n", got.load());
  }

  return test_end();
}
