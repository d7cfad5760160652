// SPDX-License-Identifier: MIT
// Green stacks (core/stack.h): every stack handed out has a guard page
// below it, made with MADV_GUARD_INSTALL or, as on kernels before 6.13 (and
// with GREENHOUSE_GUARD_PAGES=mprotect), with mprotect; when no more guards
// can be made (vm.max_map_count, simulated) stacks are refused with -EAGAIN
// and spawn fails with -EAGAIN, never handing out an unguarded stack;
// released stacks keep only their top warm part resident.
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/green.h"
#include "core/stack.h"
#include "test_util.h"

namespace {

using gh::Stack;
using gh::StackPool;

// The protection of the mapping holding addr, from /proc/self/maps
// ("rw-p", "---p"), or "" if unmapped.
std::string prot_at(const void* addr) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (!f) return "";
  char line[512];
  std::string prot;
  auto a = reinterpret_cast<uintptr_t>(addr);
  while (fgets(line, sizeof line, f)) {
    uintptr_t lo, hi;
    char p[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && a >= lo && a < hi) prot = p;
  }
  fclose(f);
  return prot;
}

// Whether writing to addr kills a child process with SIGSEGV.
bool write_faults(void* addr) {
  pid_t pid = fork();
  if (pid == 0) {
    // The default action, not a sanitizer's SIGSEGV handler (the kernel's
    // struct sigaction; a raw call, which no sanitizer intercepts).
    struct {
      void* handler;
      unsigned long flags;
      void* restorer;
      unsigned long mask;
    } dfl = {nullptr, 0, nullptr, 0};
    syscall(SYS_rt_sigaction, SIGSEGV, &dfl, nullptr, sizeof dfl.mask);
    *static_cast<volatile char*>(addr) = 1;
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV;
}

struct ForcedMprotect {
  explicit ForcedMprotect(long limit = -1) { StackPool::force_mprotect_guards(true, limit); }
  ~ForcedMprotect() { StackPool::force_mprotect_guards(false); }
};

TEST(Stack, EveryStackHasAGuardPage) {
  StackPool pool;
  Stack s[3];
  for (Stack& x : s) ASSERT_EQ(pool.acquire(64 * 1024, &x), 0);
  for (Stack& x : s) {
    char* guard = static_cast<char*>(x.lo) - gh::page_size();
    EXPECT_TRUE(write_faults(guard));
    EXPECT_FALSE(write_faults(static_cast<char*>(x.hi()) - 8));
  }
  for (Stack& x : s) pool.release(x);
}

TEST(Stack, MprotectGuardsLikeOlderKernels) {
  ForcedMprotect forced;
  long before = StackPool::guard_vmas();
  {
    StackPool pool;
    Stack s;
    ASSERT_EQ(pool.acquire(8 << 20, &s), 0);
    char* guard = static_cast<char*>(s.lo) - gh::page_size();
    EXPECT_EQ(prot_at(guard), "---p");
    EXPECT_EQ(prot_at(s.lo), "rw-p");
    EXPECT_TRUE(write_faults(guard));
    EXPECT_EQ(StackPool::guard_vmas(), before + 2);
    pool.release(s);
  }
  EXPECT_EQ(StackPool::guard_vmas(), before) << "guards outlived their slab";
}

TEST(Stack, NoGuardNoStack) {
  // Room for exactly three guards.
  ForcedMprotect forced(StackPool::guard_vmas() + 6);
  StackPool pool;
  std::vector<Stack> got;
  Stack s;
  // 8 MiB stacks: one per slab.
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(pool.acquire(8 << 20, &s), 0) << i;
    got.push_back(s);
  }
  EXPECT_EQ(pool.acquire(8 << 20, &s), -EAGAIN);
  // Small stacks come many to a slab: with no guard at all, none.
  EXPECT_EQ(pool.acquire(16 << 10, &s), -EAGAIN);
  for (Stack& x : got) pool.release(x);
  // A released stack is reused: no new guard needed.
  ASSERT_EQ(pool.acquire(8 << 20, &s), 0);
  pool.release(s);
}

TEST(Stack, ASlabKeepsTheStacksThatGotGuards) {
  ForcedMprotect forced(StackPool::guard_vmas() + 4);  // two guards
  StackPool pool;
  Stack a, b, c;
  ASSERT_EQ(pool.acquire(16 << 10, &a), 0);
  ASSERT_EQ(pool.acquire(16 << 10, &b), 0);
  EXPECT_EQ(pool.acquire(16 << 10, &c), -EAGAIN);
  for (Stack* x : {&a, &b}) EXPECT_TRUE(write_faults(static_cast<char*>(x->lo) - gh::page_size()));
  pool.release(a);
  pool.release(b);
}

TEST(Stack, SpawnRefusedWithEagainWhenNoGuardCanBeMade) {
  gh_test::on_fresh_carrier([] {
    ForcedMprotect forced(StackPool::guard_vmas());  // no room at all
    gh::SpawnOptions o;
    o.stack_size = 4 << 20;  // a size nobody pooled yet
    gh::GreenThread* g = nullptr;
    EXPECT_EQ(gh::spawn([](void*) -> void* { return nullptr; }, nullptr, o, &g), -EAGAIN);
  });
}

TEST(Stack, ReleasedStacksKeepOnlyTheirWarmTop) {
  StackPool pool;
  const size_t size = 1 << 20;
  std::vector<Stack> s(StackPool::kHotPerClass + 1);
  for (Stack& x : s) {
    ASSERT_EQ(pool.acquire(size, &x), 0);
    memset(x.lo, 1, x.size);  // the thread used all of it
  }
  for (Stack& x : s) pool.release(x);
  // The last one released went beyond the hot few: only its top kWarmBytes
  // are resident.
  const Stack& last = s.back();
  size_t pages = size / gh::page_size();
  std::vector<unsigned char> vec(pages);
  ASSERT_EQ(mincore(last.lo, size, vec.data()), 0);
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  EXPECT_EQ(resident * gh::page_size(), StackPool::kWarmBytes);
  // A hot one kept everything.
  ASSERT_EQ(mincore(s.front().lo, size, vec.data()), 0);
  resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  EXPECT_EQ(resident, pages);
}

}  // namespace
