// SPDX-License-Identifier: MIT
// The Boost.Fiber twin of api_bench.c (Debian libboost-fiber-dev): the same
// two measurements with fibers on one thread (its default scheduler),
// unbuffered_channel for the round trip, and a bounded set of slots
// (buffered_channel of tokens) for the pool.
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

namespace {
constexpr int kRounds = 200000;
constexpr int kTasks = 100000;
constexpr int kPool = 128;
}  // namespace

int main() {
  namespace bf = boost::fibers;
  bf::unbuffered_channel<int> ping, pong;
  bf::fiber echo([&] {
    int v;
    while (ping.pop(v) == bf::channel_op_status::success) pong.push(v);
  });
  int v = 0;
  for (int i = 0; i < 1000; i++) {
    ping.push(i);
    pong.pop(v);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; i++) {
    ping.push(i);
    pong.pop(v);
  }
  auto t1 = std::chrono::steady_clock::now();
  ping.close();
  echo.join();
  if (v != kRounds - 1) return 1;
  std::printf("roundtrip_ns %.1f\n",
              std::chrono::duration<double, std::nano>(t1 - t0).count() / kRounds);

  std::atomic<long> done{0};
  bf::buffered_channel<int> slots(kPool * 2);  // a power of two, room for kPool tokens
  for (int i = 0; i < kPool; i++) slots.push(0);
  bf::mutex m;
  bf::condition_variable cv;
  long finished = 0;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kTasks; i++) {
    int token;
    slots.pop(token);
    bf::fiber([&] {
      done.fetch_add(1, std::memory_order_relaxed);
      slots.push(0);
      std::unique_lock<bf::mutex> lk(m);
      if (++finished == kTasks) cv.notify_one();
    }).detach();
  }
  {
    std::unique_lock<bf::mutex> lk(m);
    cv.wait(lk, [&] { return finished == kTasks; });
  }
  t1 = std::chrono::steady_clock::now();
  if (done != kTasks) return 1;
  std::printf("pool_tasks_per_s %.0f\n",
              kTasks / std::chrono::duration<double>(t1 - t0).count());
  return 0;
}
