// SPDX-License-Identifier: MIT
// Green-thread stacks.
//
// Layout (see docs/design.md, "Stacks"): stacks are carved out of slabs, one
// anonymous MAP_NORESERVE mapping holding many stacks of one size. Each stack
// has a guard page below it. Where the kernel has MADV_GUARD_INSTALL (6.13+)
// the guard is installed without splitting the mapping, so a slab is one VMA
// whatever the number of stacks in it: 100,000 green threads cost ~100 VMAs,
// far under vm.max_map_count. On older kernels the guard is an mprotect'ed
// page (two VMAs per stack) until half of vm.max_map_count is used; stacks
// made after that have no guard page, and a one-time warning says so.
//
// Released stacks are pooled per size. The most recently used ones stay warm;
// beyond the warm limit their pages are returned with MADV_DONTNEED (the guard
// stays). Slabs are unmapped when the pool is destroyed.
//
// Owner: one carrier (not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/arena.h"

namespace gh {

// The stack size of a green thread whose creator asks for none.
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
  // at least kMinSize). Returns 0 on success, -ENOMEM when no memory or
  // address space is left.
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

  // True when stacks have guard pages that do not cost a VMA each.
  static bool cheap_guards();

 private:
  struct Class {
    size_t size;                                     // usable size of each stack
    std::vector<Stack, ArenaAllocator<Stack>> free;  // released stacks, most recent last
    size_t warm = 0;  // how many of the last `free` are not DONTNEED'ed
  };
  struct Slab {
    void* base;
    size_t bytes;
  };
  Class& class_for(size_t size);
  int grow(Class& c);

  std::vector<Class, ArenaAllocator<Class>> classes_;
  std::vector<Slab, ArenaAllocator<Slab>> slabs_;
  int64_t in_use_ = 0;  // [carrier]
};

size_t page_size();

}  // namespace gh
