// SPDX-License-Identifier: MIT
#include "core/channel.h"

#include <cerrno>
#include <cstring>

#include "core/carrier.h"

namespace gh {

// The state a select's nodes share: the Waiter whose CAS claims it, and the
// case the claimer completed.
struct SelectWait {
  Waiter w;
  int fired = -1;  // written by the claimer before it readies the thread
};

void ChanQueue::push(ChanCase* c) {
  c->next = nullptr;
  c->prev = tail;
  if (tail)
    tail->next = c;
  else
    head = c;
  tail = c;
  c->linked = true;
}

void ChanQueue::unlink(ChanCase* c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    tail = c->prev;
  c->next = c->prev = nullptr;
  c->linked = false;
}

Channel* Channel::create(size_t elem_size, size_t capacity) {
  if (elem_size == 0 || elem_size > kMaxElemSize) return nullptr;
  if (capacity != kUnbounded && capacity > SIZE_MAX / 2 / elem_size) return nullptr;
  auto* ch = new (std::nothrow) Channel;
  if (!ch) return nullptr;
  ch->elem_ = elem_size;
  ch->cap_ = capacity;
  if (capacity != kUnbounded && capacity > 0) {
    SpinGuard guard(ch->lock_);
    ch->buf_ = static_cast<unsigned char*>(arena_alloc(capacity * elem_size));
    if (!ch->buf_) {
      delete ch;
      return nullptr;
    }
    ch->room_ = capacity;
  }
  return ch;
}

void Channel::destroy() {
  {
    SpinGuard guard(lock_);
    if (buf_) arena_free(buf_, room_ * elem_);
    buf_ = nullptr;
  }
  delete this;
}

bool Channel::grow() {
  size_t room = room_ ? room_ * 2 : 16;
  if (room > SIZE_MAX / 2 / elem_) return false;
  auto* buf = static_cast<unsigned char*>(arena_alloc(room * elem_));
  if (!buf) return false;
  for (size_t i = 0; i < count_; i++) memcpy(buf + i * elem_, slot(i), elem_);
  if (buf_) arena_free(buf_, room_ * elem_);
  buf_ = buf;
  room_ = room;
  head_ = 0;
  return true;
}

ChanCase* Channel::claim(ChanQueue& q) {
  while (ChanCase* c = q.pop()) {
    int waiting = Waiter::kWaiting;
    if (c->sel->w.state.compare_exchange_strong(waiting, Waiter::kWoken,
                                                std::memory_order_acq_rel)) {
      c->sel->fired = c->index;
      return c;
    }
    // Its select completed another case or timed out: its owner unlinks
    // the rest of its nodes; this one is already out.
  }
  return nullptr;
}

bool Channel::try_case(SelectCase& c, ChanCase** wake) {
  auto woken = [wake](ChanCase* other) {
    other->user->status = 0;
    other->wake_next = *wake;
    *wake = other;
  };
  if (!c.send) {
    if (count_ > 0) {
      if (c.value) memcpy(c.value, slot(0), elem_);
      head_ = (head_ + 1) % room_;
      count_--;
      // A sender waiting for room (a full buffer) moves its element in.
      if (ChanCase* s = claim(sendq_)) {
        memcpy(slot(count_), s->user->value, elem_);
        count_++;
        woken(s);
      }
      c.status = 0;
      return true;
    }
    if (ChanCase* s = claim(sendq_)) {  // unbuffered: straight from the sender
      if (c.value) memcpy(c.value, s->user->value, elem_);
      woken(s);
      c.status = 0;
      return true;
    }
    if (closed_) {
      if (c.value) memset(c.value, 0, elem_);
      c.status = EPIPE;
      return true;
    }
    return false;
  }
  if (closed_) {
    c.status = EPIPE;
    return true;
  }
  // A waiting receiver means an empty buffer: straight to it.
  if (ChanCase* r = claim(recvq_)) {
    if (r->user->value) memcpy(r->user->value, c.value, elem_);
    woken(r);
    c.status = 0;
    return true;
  }
  if (count_ < cap_) {
    if (count_ == room_ && !grow()) {
      c.status = ENOMEM;
      return true;
    }
    memcpy(slot(count_), c.value, elem_);
    count_++;
    c.status = 0;
    return true;
  }
  return false;
}

namespace {

// xorshift64*: the select's random order. Per thread; seeded from its
// address and a global counter.
uint64_t next_random() {
  static std::atomic<uint64_t> seeds{0x9E3779B97F4A7C15ull};
  thread_local uint64_t s = 0;
  if (s == 0)
    s = seeds.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) ^
        reinterpret_cast<uintptr_t>(&s) ^ 1;
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1Dull;
}

void ready_all(ChanCase* wake) {
  while (wake) {
    ChanCase* next = wake->wake_next;  // read first: the node dies once it runs
    Carrier::ready(wake->sel->w.g);
    wake = next;
  }
}

// The distinct channels of the cases, in address order: the order every
// select locks them in.
size_t lock_order(const SelectCase* cases, size_t n, Channel** out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    Channel* ch = cases[i].chan;
    size_t j = k;
    bool dup = false;
    for (size_t m = 0; m < k; m++) dup |= out[m] == ch;
    if (dup) continue;
    while (j > 0 && out[j - 1] > ch) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = ch;
    k++;
  }
  return k;
}

}  // namespace

struct ChannelSelect {
  // A select holds several channels' locks at once, which the analysis
  // cannot follow.
  static void lock_all(Channel** locks, size_t n) GH_NO_TSA {
    for (size_t i = 0; i < n; i++) locks[i]->lock_.lock();
  }
  static void unlock_all(Channel** locks, size_t n) GH_NO_TSA {
    for (size_t i = n; i > 0; i--) locks[i - 1]->lock_.unlock();
  }

  // N: room for the parked nodes (a one-case select needs one).
  template <size_t N>
  static int run(SelectCase* cases, size_t n, int64_t deadline_ns) GH_NO_TSA {
    Channel* locks[Channel::kMaxSelect];
    size_t nl = lock_order(cases, n, locks);
    uint8_t order[Channel::kMaxSelect];
    for (size_t i = 0; i < n; i++) order[i] = static_cast<uint8_t>(i);
    for (size_t i = n; i > 1; i--) {  // Fisher-Yates
      size_t j = next_random() % i;
      uint8_t t = order[i - 1];
      order[i - 1] = order[j];
      order[j] = t;
    }
    lock_all(locks, nl);
    ChanCase* wake = nullptr;
    for (size_t k = 0; k < n; k++) {
      SelectCase& c = cases[order[k]];
      if (c.chan->try_case(c, &wake)) {
        unlock_all(locks, nl);
        ready_all(wake);
        return order[k];
      }
    }
    if (deadline_ns >= 0 && deadline_ns <= mono_ns()) {
      unlock_all(locks, nl);
      return -ETIMEDOUT;
    }
    SelectWait sel;
    sel.w.g = self();
    ChanCase nodes[N];
    for (size_t i = 0; i < n; i++) {
      nodes[i].sel = &sel;
      nodes[i].user = &cases[i];
      nodes[i].index = static_cast<int>(i);
      (cases[i].send ? cases[i].chan->sendq_ : cases[i].chan->recvq_).push(&nodes[i]);
    }
    unlock_all(locks, nl);
    int r =
        park_waiter(sel.w, deadline_ns,
                    n == 1 ? (cases[0].send ? "chan send" : "chan recv") : "select", cases[0].chan);
    lock_all(locks, nl);
    for (size_t i = 0; i < n; i++) {
      if (!nodes[i].linked) continue;
      (cases[i].send ? cases[i].chan->sendq_ : cases[i].chan->recvq_).unlink(&nodes[i]);
    }
    unlock_all(locks, nl);
    return r == Waiter::kWoken ? sel.fired : -ETIMEDOUT;
  }
};

int Channel::select(SelectCase* cases, size_t n, int64_t deadline_ns) {
  if (n == 0 || n > kMaxSelect) return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!cases[i].chan) return -EINVAL;
  if (n == 1) return ChannelSelect::run<1>(cases, n, deadline_ns);
  if (n <= 4) return ChannelSelect::run<4>(cases, n, deadline_ns);
  return ChannelSelect::run<kMaxSelect>(cases, n, deadline_ns);
}

int Channel::send(const void* value, int64_t deadline_ns) {
  SelectCase c;
  c.chan = this;
  c.send = true;
  c.value = const_cast<void*>(value);
  int r = ChannelSelect::run<1>(&c, 1, deadline_ns);
  return r < 0 ? -r : c.status;
}

int Channel::recv(void* value, int64_t deadline_ns) {
  SelectCase c;
  c.chan = this;
  c.value = value;
  int r = ChannelSelect::run<1>(&c, 1, deadline_ns);
  return r < 0 ? -r : c.status;
}

int Channel::close() {
  ChanCase* wake = nullptr;
  {
    SpinGuard guard(lock_);
    if (closed_) return EPIPE;
    closed_ = true;
    // Waiting receivers found the buffer empty; waiting senders fail.
    while (ChanCase* r = claim(recvq_)) {
      if (r->user->value) memset(r->user->value, 0, elem_);
      r->user->status = EPIPE;
      r->wake_next = wake;
      wake = r;
    }
    while (ChanCase* s = claim(sendq_)) {
      s->user->status = EPIPE;
      s->wake_next = wake;
      wake = s;
    }
  }
  ready_all(wake);
  return 0;
}

size_t Channel::size() {
  SpinGuard guard(lock_);
  return count_;
}

bool Channel::closed() {
  SpinGuard guard(lock_);
  return closed_;
}

}  // namespace gh
