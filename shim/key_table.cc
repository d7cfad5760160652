// SPDX-License-Identifier: MIT
#include "shim/key_table.h"

#include <limits.h>

#include <cerrno>
#include <new>

#include "core/arena.h"

namespace gh::shim {

namespace {

constexpr unsigned kKeys = PTHREAD_KEYS_MAX;  // 1024
constexpr unsigned kBlock = 32;
constexpr unsigned kBlocks = kKeys / kBlock;

struct Key {
  std::atomic<uint64_t> seq{0};  // odd: allocated
  std::atomic<void (*)(void*)> dtor{nullptr};
};
Key g_keys[kKeys];

KeySlot* slot(ShimThread* st, unsigned key, bool create) {
  if (!st->key_blocks) {
    if (!create) return nullptr;
    st->key_blocks = gh::arena_alloc_array<KeySlot*>(kBlocks);
    if (!st->key_blocks) return nullptr;
  }
  KeySlot*& b = st->key_blocks[key / kBlock];
  if (!b) {
    if (!create) return nullptr;
    b = gh::arena_alloc_array<KeySlot>(kBlock);
    if (!b) return nullptr;
  }
  return &b[key % kBlock];
}

}  // namespace

void run_key_destructors(ShimThread* st) {
  if (!st->key_blocks) return;
  for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
    bool again = false;
    for (unsigned k = 0; k < kKeys; k++) {
      KeySlot* s = slot(st, k, false);
      if (!s || !s->value) continue;
      uint64_t seq = g_keys[k].seq.load(std::memory_order_acquire);
      void (*dtor)(void*) = g_keys[k].dtor.load(std::memory_order_acquire);
      void* v = s->value;
      s->value = nullptr;
      if (seq != s->seq || !(seq & 1) || !dtor) continue;
      dtor(v);
      again = true;
    }
    if (!again) break;
  }
}

void free_keys(ShimThread* st) {
  if (!st->key_blocks) return;
  for (unsigned b = 0; b < kBlocks; b++) gh::arena_free_array(st->key_blocks[b], kBlock);
  gh::arena_free_array(st->key_blocks, kBlocks);
  st->key_blocks = nullptr;
}

int key_create(pthread_key_t* key, void (*dtor)(void*)) {
  for (unsigned k = 0; k < kKeys; k++) {
    uint64_t seq = g_keys[k].seq.load(std::memory_order_relaxed);
    if (seq & 1) continue;
    if (g_keys[k].seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acq_rel)) {
      g_keys[k].dtor.store(dtor, std::memory_order_release);
      *key = k;
      return 0;
    }
  }
  return EAGAIN;
}

int key_delete(pthread_key_t key) {
  if (key >= kKeys) return EINVAL;
  uint64_t seq = g_keys[key].seq.load(std::memory_order_relaxed);
  if (!(seq & 1)) return EINVAL;
  if (!g_keys[key].seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acq_rel))
    return EINVAL;
  return 0;
}

void* key_get(ShimThread* st, pthread_key_t key) {
  if (key >= kKeys) return nullptr;
  if (!st) return nullptr;
  KeySlot* s = slot(st, key, false);
  if (!s || !s->value) return nullptr;
  if (s->seq != g_keys[key].seq.load(std::memory_order_relaxed)) return nullptr;
  return s->value;
}

int key_set(ShimThread* st, pthread_key_t key, const void* value) {
  if (key >= kKeys) return EINVAL;
  uint64_t seq = g_keys[key].seq.load(std::memory_order_relaxed);
  if (!(seq & 1)) return EINVAL;
  if (!st) return ENOMEM;
  KeySlot* s = slot(st, key, value != nullptr);
  if (!s) return value ? ENOMEM : 0;
  s->value = const_cast<void*>(value);
  s->seq = seq;
  return 0;
}

}  // namespace gh::shim
