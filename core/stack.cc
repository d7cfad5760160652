// SPDX-License-Identifier: MIT
#include "core/stack.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

#include "core/log.h"
#include "core/sanitizer.h"
#include "core/sys.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace gh {

namespace {

constexpr size_t kSlabTarget = 8u << 20;  // aim for ~8 MiB of stacks per slab
constexpr size_t kSlabMaxStacks = 256;

// -1 unknown, 0 no, 1 yes.
std::atomic<int> g_cheap_guards{-1};
// VMAs spent on mprotect guards (fallback path only), process-wide.
std::atomic<long> g_guard_vmas{0};
std::atomic<bool> g_warned_refused{false};
// force_mprotect_guards(): no MADV_GUARD_INSTALL, and this VMA budget.
std::atomic<bool> g_simulate_old{false};
std::atomic<long> g_simulated_limit{-1};

enum class Guard { kRefused, kCheap, kMprotect };

// Puts a guard page at [p, p + page). kRefused if the kernel refuses
// (vm.max_map_count reached).
Guard install_guard(char* p) {
  size_t pg = page_size();
  int cheap = g_simulate_old.load(std::memory_order_relaxed)
                  ? 0
                  : g_cheap_guards.load(std::memory_order_relaxed);
  if (cheap != 0) {
    if (madvise(p, pg, MADV_GUARD_INSTALL) == 0) {
      g_cheap_guards.store(1, std::memory_order_relaxed);
      return Guard::kCheap;
    }
    g_cheap_guards.store(0, std::memory_order_relaxed);
  }
  long limit = g_simulated_limit.load(std::memory_order_relaxed);
  if ((limit < 0 || g_guard_vmas.load(std::memory_order_relaxed) + 2 <= limit) &&
      mprotect(p, pg, PROT_NONE) == 0) {
    g_guard_vmas.fetch_add(2, std::memory_order_relaxed);
    return Guard::kMprotect;
  }
  if (!g_warned_refused.exchange(true)) {
    log_warn(
        "no guard page for another thread stack (vm.max_map_count reached, %ld VMAs in "
        "guards): threads are refused (EAGAIN) until others end",
        g_guard_vmas.load(std::memory_order_relaxed));
  }
  return Guard::kRefused;
}

}  // namespace

void StackPool::force_mprotect_guards(bool on, long vma_limit) {
  g_simulate_old.store(on, std::memory_order_relaxed);
  g_simulated_limit.store(on ? vma_limit : -1, std::memory_order_relaxed);
}

long StackPool::guard_vmas() { return g_guard_vmas.load(std::memory_order_relaxed); }

size_t page_size() {
  static const size_t pg = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return pg;
}

bool StackPool::cheap_guards() { return g_cheap_guards.load() == 1; }

StackPool::~StackPool() {
  for (const Slab& s : slabs_) unmap(s);
}

void StackPool::unmap(const Slab& s) {
  // ASan: what threads that never returned from their last frames left
  // poisoned would greet whatever is mapped here next.
  san_fresh_stack(s.base, s.bytes);
  munmap(s.base, s.bytes);
  // Guards made with mprotect go with their slab.
  g_guard_vmas.fetch_sub(2 * static_cast<long>(s.mprotect_guards), std::memory_order_relaxed);
}

StackPool::Class& StackPool::class_for(size_t size) {
  for (Class& c : classes_)
    if (c.size == size) return c;
  classes_.push_back(Class{size, {}, 0});
  return classes_.back();
}

int StackPool::grow(Class& c) {
  size_t pg = page_size();
  size_t slot = c.size + pg;
  size_t n = kSlabTarget / slot;
  if (n < 1) n = 1;
  if (n > kSlabMaxStacks) n = kSlabMaxStacks;
  size_t bytes = n * slot;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return -ENOMEM;
  // Named, for /proc/self/maps readers: "[anon:greenhouse stack]" is a
  // stack, as "[stack]" is (a crash handler's memory test skips stacks).
  // Kernels without named anonymous memory (before 5.17) refuse: no name.
  sys_ret(SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, base, bytes, "greenhouse stack");
  Slab slab{base, bytes, n, 0};
  for (size_t i = 0; i < n; i++) {
    Guard g = install_guard(static_cast<char*>(base) + i * slot);
    if (g == Guard::kRefused) {
      // A stack without a guard is never handed out: the guarded ones are
      // kept; with none, refuse, as glibc refuses a thread whose guard it
      // cannot install.
      if (i == 0) {
        slab.stacks = 0;
        unmap(slab);
        return -EAGAIN;
      }
      n = i;
      break;
    }
    if (g == Guard::kMprotect) slab.mprotect_guards++;
  }
  slab.stacks = n;
  slabs_.push_back(slab);
  // Push in reverse so the lowest stack is handed out first.
  for (size_t i = n; i-- > 0;) {
    char* slot_lo = static_cast<char*>(base) + i * slot;
    c.free.push_back(Stack{slot_lo + pg, c.size});
  }
  // Fresh pages are not resident, so they count as cold, not warm.
  c.warm = 0;
  return 0;
}

int StackPool::acquire(size_t size, Stack* out) {
  size_t pg = page_size();
  if (size < kMinSize) size = kMinSize;
  size = (size + pg - 1) & ~(pg - 1);
  Class& c = class_for(size);
  if (c.free.empty()) {
    int rc = grow(c);
    if (rc < 0) return rc;
  }
  *out = c.free.back();
  c.free.pop_back();
  if (c.warm > 0) c.warm--;
  in_use_++;
  return 0;
}

void StackPool::release(const Stack& s) {
  in_use_--;
  Class& c = class_for(s.size);
  if (c.warm >= kWarmPerClass) {
    // Keep the address range and its guard, give the memory back.
    // The warm ones are the last kWarmPerClass entries; this one goes below
    // them as a cold stack.
    madvise(s.lo, s.size, MADV_DONTNEED);
    c.free.insert(c.free.end() - static_cast<long>(c.warm), s);
    return;
  }
  // Warm: the first kHotPerClass keep all their pages (a thread that is
  // made and ends again and again reuses one stack without a system call);
  // the others keep the top kWarmBytes, where the next thread starts, and
  // what the finished thread touched below goes back.
  if (c.warm >= kHotPerClass && s.size > kWarmBytes)
    madvise(s.lo, s.size - kWarmBytes, MADV_DONTNEED);
  c.free.push_back(s);
  c.warm++;
}

}  // namespace gh
