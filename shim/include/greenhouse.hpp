// SPDX-License-Identifier: MIT
// greenhouse.hpp: a thin C++17 layer on greenhouse.h (docs/api.md, "C++").
// Header-only; every call is the C call of the same name underneath, and the
// error numbers are the same (returned, never thrown).
#ifndef GREENHOUSE_HPP
#define GREENHOUSE_HPP

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "greenhouse.h"

namespace greenhouse {

using Nanos = std::chrono::nanoseconds;
// A wait without limit.
inline constexpr Nanos kForever{-1};

inline bool enabled() { return gh_enabled() != 0; }
inline int carriers() { return gh_carriers(); }
inline void yield() { gh_yield(); }
inline int sleep_for(Nanos d) { return gh_sleep(d.count()); }
inline pid_t id() { return gh_id(); }

struct SpawnOptions {
  size_t stack_size = 0;
  const char* name = nullptr;
  int carrier = -1;
};

// A joinable green thread running a callable. Like std::thread, it must be
// joined or detached before it is destroyed.
class Thread {
 public:
  Thread() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Thread>>>
  explicit Thread(F&& f, const SpawnOptions& o = {}) {
    auto* fn = new std::function<void()>(std::forward<F>(f));
    gh_spawn_opts opts = GH_SPAWN_OPTS_INIT;
    opts.stack_size = o.stack_size;
    opts.name = o.name;
    opts.carrier = o.carrier;
    error_ = gh_spawn(&t_, &Thread::run, fn, &opts);
    if (error_ != 0) delete fn;
    joinable_ = error_ == 0;
  }
  Thread(Thread&& o) noexcept { *this = std::move(o); }
  // As std::thread: replacing a thread that is still joinable terminates.
  Thread& operator=(Thread&& o) noexcept {
    if (joinable_) std::terminate();
    t_ = o.t_;
    joinable_ = std::exchange(o.joinable_, false);
    error_ = o.error_;
    return *this;
  }
  ~Thread() {
    if (joinable_) std::terminate();
  }
  // 0, or why the thread could not be made (EAGAIN, EINVAL).
  int error() const { return error_; }
  bool joinable() const { return joinable_; }
  // 0, or pthread_join's codes; EINVAL when not joinable.
  int join() {
    if (!joinable_) return EINVAL;
    joinable_ = false;
    return gh_join(t_, nullptr);
  }
  int detach() {
    if (!joinable_) return EINVAL;
    joinable_ = false;
    return gh_detach(t_);
  }
  gh_thread_t native_handle() const { return t_; }

 private:
  static void* run(void* p) {
    std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(p));
    (*fn)();
    return nullptr;
  }
  gh_thread_t t_{};
  bool joinable_ = false;
  int error_ = 0;
};

// Starts a detached green thread running f. Returns 0 or an error number.
template <class F>
int spawn(F&& f, const SpawnOptions& o = {}) {
  Thread t(std::forward<F>(f), o);
  return t.joinable() ? t.detach() : t.error();
}

// Every wait of this thread ends with ETIMEDOUT once d has passed, until the
// scope ends (gh_timeout_start/gh_timeout_end).
class Timeout {
 public:
  explicit Timeout(Nanos d) { gh_timeout_start(&t_, d.count()); }
  ~Timeout() { gh_timeout_end(&t_); }
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  bool expired() const { return gh_timeout_expired(&t_) != 0; }

 private:
  gh_timeout_t t_;
};

class Event {
 public:
  void set() { gh_event_set(&e_); }
  void clear() { gh_event_clear(&e_); }
  bool is_set() const { return gh_event_is_set(&e_) != 0; }
  // 0, ETIMEDOUT, or EAGAIN (a zero timeout).
  int wait(Nanos timeout = kForever) { return gh_event_wait(&e_, timeout.count()); }

 private:
  gh_event_t e_ = GH_EVENT_INIT;
};

// A channel of T (trivially copyable: messages are copied bytewise).
template <class T>
class Channel {
  static_assert(std::is_trivially_copyable_v<T>, "channel messages are copied bytewise");

 public:
  static constexpr size_t kUnbounded = GH_UNBOUNDED;
  explicit Channel(size_t capacity = 0) : c_(gh_chan_new(sizeof(T), capacity)) {
    if (!c_) throw std::bad_alloc();
  }
  ~Channel() { gh_chan_free(c_); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // 0, EPIPE (closed), ETIMEDOUT, EAGAIN.
  int send(const T& v, Nanos timeout = kForever) { return gh_chan_send(c_, &v, timeout.count()); }
  // 0, EPIPE (closed and empty), ETIMEDOUT, EAGAIN.
  int recv(T& v, Nanos timeout = kForever) { return gh_chan_recv(c_, &v, timeout.count()); }
  int close() { return gh_chan_close(c_); }
  size_t size() const { return gh_chan_len(c_); }
  size_t capacity() const { return gh_chan_cap(c_); }
  gh_chan_t* get() const { return c_; }

 private:
  gh_chan_t* c_;
};

// Builds a select: add cases, then wait() returns the chosen index or a
// negative error number (-ETIMEDOUT, -EAGAIN, -EINVAL); status(i) is the
// chosen case's 0 or EPIPE.
class Select {
 public:
  template <class T>
  size_t recv(Channel<T>& c, T* into) {
    return add(c.get(), GH_RECV, into);
  }
  template <class T>
  size_t send(Channel<T>& c, const T* from) {
    return add(c.get(), GH_SEND, const_cast<T*>(from));
  }
  int wait(Nanos timeout = kForever) {
    return gh_select(cases_.data(), cases_.size(), timeout.count());
  }
  int status(size_t i) const { return cases_[i].status; }

 private:
  size_t add(gh_chan_t* c, int op, void* v) {
    cases_.push_back(gh_select_case{c, op, v, 0});
    return cases_.size() - 1;
  }
  std::vector<gh_select_case> cases_;
};

// A FIFO of T* (maxsize 0: unbounded).
template <class T>
class Queue {
 public:
  explicit Queue(size_t maxsize = 0) : q_(gh_queue_new(maxsize)) {
    if (!q_) throw std::bad_alloc();
  }
  ~Queue() { gh_queue_free(q_); }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  int put(T* item, Nanos timeout = kForever) { return gh_queue_put(q_, item, timeout.count()); }
  int get(T*& item, Nanos timeout = kForever) {
    void* v = nullptr;
    int rc = gh_queue_get(q_, &v, timeout.count());
    item = static_cast<T*>(v);
    return rc;
  }
  int close() { return gh_queue_close(q_); }
  size_t size() const { return gh_queue_size(q_); }

 private:
  gh_queue_t* q_;
};

// At most `size` tasks at once.
class Pool {
 public:
  explicit Pool(size_t size) : p_(gh_pool_new(size)) {
    if (!p_) throw std::bad_alloc();
  }
  ~Pool() { gh_pool_free(p_); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs f once a slot is free. 0, ETIMEDOUT or EAGAIN.
  template <class F>
  int spawn(F&& f) {
    auto* fn = new std::function<void()>(std::forward<F>(f));
    int rc = gh_pool_spawn(p_, &run, fn);
    if (rc != 0) delete fn;
    return rc;
  }
  int join(Nanos timeout = kForever) { return gh_pool_join(p_, timeout.count()); }
  size_t running() const { return gh_pool_running(p_); }

  // out = {f(in[0]), f(in[1]), ...}, at most `size` at once; waits for
  // these tasks only. 0, or gh_pool_map's EAGAIN/ETIMEDOUT (items whose task
  // did not start keep a default-constructed value).
  template <class In, class F, class Out = std::invoke_result_t<F&, const In&>>
  int map(const std::vector<In>& in, F f, std::vector<Out>& out) {
    std::vector<Item<In, F, Out>> items(in.size());
    std::vector<void*> args(in.size()), res(in.size());
    for (size_t i = 0; i < in.size(); i++) {
      items[i].f = &f;
      items[i].in = &in[i];
      args[i] = &items[i];
    }
    int rc = gh_pool_map(p_, &Item<In, F, Out>::call, args.data(), res.data(), in.size());
    out.clear();
    out.reserve(in.size());
    for (auto& it : items) out.push_back(std::move(it.out));
    return rc;
  }
  // done(i, f(in[i])) on the calling thread as each finishes, never two at
  // once. 0, or gh_pool_map_unordered's codes.
  template <class In, class F, class Done>
  int imap_unordered(const std::vector<In>& in, F f, Done done) {
    using Out = std::invoke_result_t<F&, const In&>;
    std::vector<Item<In, F, Out>> items(in.size());
    std::vector<void*> args(in.size());
    for (size_t i = 0; i < in.size(); i++) {
      items[i].f = &f;
      items[i].in = &in[i];
      args[i] = &items[i];
    }
    struct Ctx {
      Done* done;
      std::vector<Item<In, F, Out>>* items;
    } ctx{&done, &items};
    return gh_pool_map_unordered(
        p_, &Item<In, F, Out>::call, args.data(), in.size(),
        [](void* c, size_t i, void*) {
          auto* x = static_cast<Ctx*>(c);
          (*x->done)(i, std::move((*x->items)[i].out));
        },
        &ctx);
  }

 private:
  // One map item: its own result slot (no std::vector<bool> sharing).
  template <class In, class F, class Out>
  struct Item {
    F* f = nullptr;
    const In* in = nullptr;
    Out out{};
    static void* call(void* p) {
      auto* it = static_cast<Item*>(p);
      it->out = (*it->f)(*it->in);
      return nullptr;
    }
  };
  static void* run(void* p) {
    std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(p));
    (*fn)();
    return nullptr;
  }
  gh_pool_t* p_;
};

// Green-local storage of a T* per thread (a pthread key underneath);
// thread_local works too.
template <class T>
class Local {
 public:
  explicit Local(void (*destructor)(void*) = nullptr) { gh_local_new(&key_, destructor); }
  ~Local() { gh_local_delete(key_); }
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;
  T* get() const { return static_cast<T*>(gh_local_get(key_)); }
  int set(T* v) { return gh_local_set(key_, v); }

 private:
  gh_local_t key_;
};

}  // namespace greenhouse

#endif  // GREENHOUSE_HPP
