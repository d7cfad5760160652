// SPDX-License-Identifier: MIT
// The runtime's own memory: a private allocator on mmap, never the
// program's malloc. The program's malloc may be jemalloc or tcmalloc, which
// call pthread_mutex_lock, pthread_self, pthread_setspecific, ... from
// inside malloc: if serving those hooks allocated with malloc, it would
// re-enter the allocator under its own lock (docs/design.md, "Memory").
//
// Blocks of up to kMaxSmall bytes come from power-of-two size classes carved
// out of 256 KiB mmap chunks, with a free list per class; larger ones are
// mappings of their own. Memory of small blocks is reused, never unmapped.
// Every function is thread-safe and async-signal-unsafe; none throws.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

namespace gh {

// Returns at least n bytes aligned to 16 (zero-filled), or nullptr.
void* arena_alloc(size_t n);
// Frees a block from arena_alloc(n) (the same n).
void arena_free(void* p, size_t n);

// Ends the process with a "greenhouse: out of memory" message, for the few
// places that cannot report the failure to their caller.
[[noreturn]] void arena_out_of_memory(const char* what);

// Base for runtime objects created with new/delete: they come from the
// arena. `new (std::nothrow) T` returns nullptr on failure; plain `new T`
// ends the process (arena_out_of_memory) instead of throwing into C code.
struct ArenaObject {
  static void* operator new(size_t n, const std::nothrow_t&) noexcept { return arena_alloc(n); }
  static void* operator new(size_t n) {
    void* p = arena_alloc(n);
    if (!p) arena_out_of_memory("runtime object");
    return p;
  }
  static void* operator new[](size_t n, const std::nothrow_t&) noexcept { return arena_alloc(n); }
  static void* operator new[](size_t n) {
    void* p = arena_alloc(n);
    if (!p) arena_out_of_memory("runtime array");
    return p;
  }
  static void operator delete(void* p, size_t n) noexcept { arena_free(p, n); }
  static void operator delete[](void* p, size_t n) noexcept { arena_free(p, n); }
};

// An allocator for standard containers inside the runtime.
template <class T>
struct ArenaAllocator {
  using value_type = T;
  ArenaAllocator() = default;
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>&) {}
  T* allocate(size_t n) {
    void* p = arena_alloc(n * sizeof(T));
    if (!p) arena_out_of_memory("runtime container");
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) { arena_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const ArenaAllocator<U>&) const {
    return true;
  }
};

// A zero-filled array of n T's from the arena (T trivially constructible),
// or nullptr; free with arena_free_array(p, n).
template <class T>
T* arena_alloc_array(size_t n) {
  return static_cast<T*>(arena_alloc(n * sizeof(T)));
}
template <class T>
void arena_free_array(T* p, size_t n) {
  if (p) arena_free(p, n * sizeof(T));
}

}  // namespace gh
