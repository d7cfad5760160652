// SPDX-License-Identifier: MIT
// The layout of the green synchronisation objects (core/mutex.h, cond.h,
// rwlock.h, semaphore.h, barrier.h, spin.h) as glibc's pthread types: static
// initialisers map to the right kinds, zero-filled memory is a valid
// unlocked object, and the bits the shim keeps in them are left alone.
#include <gtest/gtest.h>
#include <pthread.h>

#include <cerrno>
#include <cstring>

#include "core/barrier.h"
#include "core/cond.h"
#include "core/mutex.h"
#include "core/rwlock.h"
#include "core/semaphore.h"
#include "core/spin.h"

namespace {

TEST(SyncLayout, StaticInitialisersMapToKinds) {
  pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_t rm = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  pthread_mutex_t em = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  pthread_mutex_t am = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&pm)->type(), gh::Mutex::kNormal);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&rm)->type(), gh::Mutex::kRecursive);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&em)->type(), gh::Mutex::kErrorCheck);
  EXPECT_EQ(reinterpret_cast<gh::Mutex*>(&am)->type(), gh::Mutex::kAdaptive);

  pthread_cond_t pc = PTHREAD_COND_INITIALIZER;
  EXPECT_EQ(reinterpret_cast<gh::Cond*>(&pc)->clock(), CLOCK_REALTIME);

  pthread_rwlock_t wr = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  EXPECT_EQ(reinterpret_cast<gh::RwLock*>(&wr)->kind,
            static_cast<uint32_t>(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  EXPECT_EQ(reinterpret_cast<gh::RwLock*>(&rw)->kind, 0u);
}

TEST(SyncLayout, ZeroFilledObjectsWork) {
  alignas(8) unsigned char buf[64];
  memset(buf, 0, sizeof buf);
  auto* m = reinterpret_cast<gh::Mutex*>(buf);
  EXPECT_EQ(m->lock(), 0);
  EXPECT_EQ(m->trylock(), EBUSY);
  EXPECT_EQ(m->unlock(), 0);

  memset(buf, 0, sizeof buf);
  auto* rw = reinterpret_cast<gh::RwLock*>(buf);
  EXPECT_EQ(rw->rdlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);
  EXPECT_EQ(rw->wrlock(), 0);
  EXPECT_EQ(rw->unlock(), 0);

  memset(buf, 0, sizeof buf);
  auto* s = reinterpret_cast<gh::Semaphore*>(buf);
  EXPECT_EQ(s->trywait(), EAGAIN);
  EXPECT_EQ(s->post(), 0);
  EXPECT_EQ(s->wait(), 0);

  memset(buf, 0, sizeof buf);
  EXPECT_EQ(reinterpret_cast<gh::Barrier*>(buf)->wait(), EINVAL);

  memset(buf, 0, sizeof buf);
  auto* sp = reinterpret_cast<gh::Spin*>(buf);
  EXPECT_EQ(sp->lock(), 0);
  EXPECT_EQ(sp->trylock(), EBUSY);
  EXPECT_EQ(sp->unlock(), 0);
}

TEST(SyncLayout, ShimBitsAreLeftAlone) {
  gh::Mutex m{};
  m.kind = gh::Mutex::kErrorCheck | 0x80;  // the shim's bit
  EXPECT_EQ(m.type(), gh::Mutex::kErrorCheck);
  EXPECT_EQ(m.lock(), 0);
  EXPECT_EQ(m.lock(), EDEADLK);
  EXPECT_EQ(m.unlock(), 0);
  EXPECT_EQ(m.kind, gh::Mutex::kErrorCheck | 0x80);

  gh::RwLock rw{};
  rw.shim_ = 0xdeadbeef;
  ASSERT_EQ(rw.init(0), 0);
  EXPECT_EQ(rw.wrlock(), 0);
  EXPECT_EQ(rw.unlock(), 0);
  EXPECT_EQ(rw.shim_, 0xdeadbeefu);

  gh::Semaphore s{};
  s.shim_[0] = 1;
  s.shim_[1] = 2;
  ASSERT_EQ(s.init(1), 0);
  EXPECT_EQ(s.wait(), 0);
  EXPECT_EQ(s.post(), 0);
  EXPECT_EQ(s.shim_[0], 1u);
  EXPECT_EQ(s.shim_[1], 2u);

  gh::Barrier b{};
  b.shim_ = 7;
  ASSERT_EQ(b.init(1), 0);
  EXPECT_EQ(b.wait(), PTHREAD_BARRIER_SERIAL_THREAD);
  EXPECT_EQ(b.shim_, 7u);
}

}  // namespace
