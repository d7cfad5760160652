// SPDX-License-Identifier: MIT
// Green-thread stacks.
//
// Layout (see docs/design.md, "Stacks"): stacks are carved out of slabs, one
// anonymous MAP_NORESERVE mapping holding one or more stacks of one size:
// address space is reserved, memory is committed only where a thread
// touches it, so an 8 MiB stack costs what its thread uses. Every stack has
// a guard page below it. Where the kernel has MADV_GUARD_INSTALL (6.13+)
// the guard is installed without splitting the mapping, so a slab is one
// VMA whatever the number of stacks in it. On older kernels the guard is an
// mprotect'ed page, two VMAs per stack; when the kernel refuses another
// (vm.max_map_count) the stack is refused and the thread is not created
// (EAGAIN), as glibc refuses a thread whose stack it cannot guard: a stack
// without a guard is never handed out.
//
// Released stacks are pooled per size. The most recently used ones stay
// warm: a few (kHotPerClass) whole, the others only their top kWarmBytes:
// what the finished thread touched below is returned (MADV_DONTNEED, as
// glibc does at thread exit). Beyond the warm limit a stack's pages all go
// back. Slabs are unmapped when the pool is destroyed.
//
// Owner: one carrier (not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/arena.h"

namespace gh {

// The stack size of a green thread whose creator asks for none, unless the
// embedder sets another (the shim: glibc's default thread stack size).
constexpr size_t kDefaultStackSize = 256 * 1024;

struct Stack {
  void* lo = nullptr;  // lowest usable byte; the guard page is just below
  size_t size = 0;     // usable bytes, a multiple of the page size
  void* hi() const { return static_cast<char*>(lo) + size; }
};

class StackPool {
 public:
  StackPool() = default;
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // Hands out a stack of at least `size` usable bytes (rounded up to pages,
  // at least kMinSize), with its guard page. Returns 0 on success, -ENOMEM
  // when no address space is left, -EAGAIN when no guard page can be
  // installed (vm.max_map_count).
  int acquire(size_t size, Stack* out);
  // Returns a stack to the pool.
  void release(const Stack& s);
  // Stacks handed out by acquire() minus those given back by release(). A
  // green thread that moved to another carrier of its pool gives its stack
  // back to that carrier's pool, so one pool's count may be negative; the
  // sum over a pool's carriers is what is out.
  int64_t in_use() const { return in_use_; }

  static constexpr size_t kMinSize = 16 * 1024;
  static constexpr size_t kWarmPerClass = 64;
  static constexpr size_t kWarmBytes = 64 * 1024;
  static constexpr size_t kHotPerClass = 4;

  // True when stacks have guard pages that do not cost a VMA each.
  static bool cheap_guards();

  // Guards made with mprotect, as on kernels before 6.13, from now on
  // (GREENHOUSE_GUARD_PAGES=mprotect); for tests also a limit of
  // `vma_limit` VMAs spent on them (< 0: only the kernel's), as
  // vm.max_map_count would set. Process-wide.
  static void force_mprotect_guards(bool on, long vma_limit = -1);
  // VMAs spent on mprotect'ed guard pages, process-wide.
  static long guard_vmas();

 private:
  struct Class {
    size_t size;                                     // usable size of each stack
    std::vector<Stack, ArenaAllocator<Stack>> free;  // released stacks, most recent last
    size_t warm = 0;  // how many of the last `free` are not DONTNEED'ed
  };
  struct Slab {
    void* base;
    size_t bytes;
    size_t stacks;           // stacks in it (each with a guard)
    size_t mprotect_guards;  // of its guards, those made with mprotect (two VMAs each)
  };
  Class& class_for(size_t size);
  int grow(Class& c);
  static void unmap(const Slab& s);

  std::vector<Class, ArenaAllocator<Class>> classes_;
  std::vector<Slab, ArenaAllocator<Slab>> slabs_;
  int64_t in_use_ = 0;  // [carrier]
};

size_t page_size();

}  // namespace gh
