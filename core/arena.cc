// SPDX-License-Identifier: MIT
#include "core/arena.h"
#include "core/sys.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "core/log.h"
#include "core/spinlock.h"

namespace gh {

namespace {

constexpr size_t kMinShift = 4;   // 16 bytes
constexpr size_t kMaxShift = 16;  // 64 KiB
constexpr size_t kMaxSmall = size_t{1} << kMaxShift;
constexpr size_t kClasses = kMaxShift - kMinShift + 1;
constexpr size_t kChunk = 256 * 1024;

struct FreeBlock {
  FreeBlock* next;
};

struct alignas(64) SizeClass {
  SpinLock lock;
  FreeBlock* free GH_GUARDED_BY(lock) = nullptr;
  char* bump GH_GUARDED_BY(lock) = nullptr;  // unused rest of the current chunk
  char* bump_end GH_GUARDED_BY(lock) = nullptr;
};

constinit SizeClass g_classes[kClasses];

size_t class_of(size_t n) {
  if (n <= (size_t{1} << kMinShift)) return 0;
  return static_cast<size_t>(64 - __builtin_clzll(n - 1)) - kMinShift;
}

// Raw mmap (not the program's, which an interposer may wrap).
void* map(size_t bytes) {
  long r =
      gh::sys(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r < 0 && r > -4096) return nullptr;
  return reinterpret_cast<void*>(r);
}

size_t round_to_pages(size_t n) {
  size_t page = 4096;
  return (n + page - 1) & ~(page - 1);
}

}  // namespace

void* arena_alloc(size_t n) {
  if (n == 0) n = 1;
  if (n > kMaxSmall) return map(round_to_pages(n));
  size_t k = class_of(n);
  size_t size = size_t{1} << (k + kMinShift);
  SizeClass& c = g_classes[k];
  void* p = nullptr;
  {
    SpinGuard guard(c.lock);
    if (c.free) {
      p = c.free;
      c.free = c.free->next;
    } else {
      if (c.bump == c.bump_end) {
        auto* chunk = static_cast<char*>(map(kChunk));
        if (!chunk) return nullptr;
        c.bump = chunk;
        c.bump_end = chunk + kChunk;
      }
      p = c.bump;  // fresh from mmap: already zero
      c.bump += size;
      return p;
    }
  }
  memset(p, 0, size);
  return p;
}

void arena_free(void* p, size_t n) {
  if (!p) return;
  GH_DCHECK((reinterpret_cast<uintptr_t>(p) & 15) == 0,
            "arena_free() of a block the arena did not hand out");
  if (n == 0) n = 1;
  if (n > kMaxSmall) {
    gh::sys(SYS_munmap, p, round_to_pages(n));
    return;
  }
  SizeClass& c = g_classes[class_of(n)];
  auto* b = static_cast<FreeBlock*>(p);
  SpinGuard guard(c.lock);
  b->next = c.free;
  c.free = b;
}

void arena_out_of_memory(const char* what) {
  log_error("out of memory (%s); the runtime cannot go on", what);
  gh::sys(SYS_exit_group, 134);
  __builtin_unreachable();
}

}  // namespace gh
