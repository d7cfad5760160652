/* SPDX-License-Identifier: MIT */
/* greenhouse.h: green threads on purpose.
 *
 * The C interface of libgreenhouse (C, C++, Rust FFI, Python ctypes). Link
 * with `pkg-config --cflags --libs greenhouse` and the program's threads are
 * green threads without LD_PRELOAD; run under the `greenhouse` launcher, the
 * same calls act on the runtime the launcher loaded (one library, one
 * runtime per process). Every call and its contract: docs/api.md.
 *
 * Conventions. Calls return 0 or an error number (as pthreads do), except
 * where said. Timeouts are relative, in nanoseconds: GH_FOREVER (< 0) waits
 * without limit, 0 does not wait (EAGAIN when the call would have to).
 * ETIMEDOUT: the timeout, or an enclosing gh_timeout scope, ran out first.
 * Objects may be used from any green thread on any carrier.
 */
#ifndef GREENHOUSE_H
#define GREENHOUSE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GH_API_VERSION 1
#define GH_FOREVER ((int64_t)-1)

/* ---- The runtime ---- */

/* 1 when threads made by gh_spawn (and pthread_create) are green threads,
 * 0 when the runtime is off (GREENHOUSE=off, or it could not start): they
 * are then OS threads, and every other call still works as documented. */
int gh_enabled(void);
/* The number of carriers (OS threads running green threads), >= 1. */
int gh_carriers(void);

/* ---- Green threads ---- */

/* A green thread is a whole thread to the program: gh_thread_t is its
 * pthread_t, and pthread_* calls accept it. */
typedef pthread_t gh_thread_t;

typedef struct gh_spawn_opts {
  size_t stack_size; /* bytes; 0: the default (GREENHOUSE_STACK_SIZE) */
  const char* name;  /* up to 15 bytes shown (greenhouse ps); NULL: the creator's */
  int carrier;       /* 0..gh_carriers()-1 to run only there; -1: any */
  int detached;      /* nonzero: freed when it ends, never joined */
} gh_spawn_opts;
#define GH_SPAWN_OPTS_INIT {0, NULL, -1, 0}

/* Starts fn(arg) on a new green thread. opts may be NULL (the defaults).
 * Returns 0, EAGAIN (no memory or stack) or EINVAL (a bad option). */
int gh_spawn(gh_thread_t* thread, void* (*fn)(void*), void* arg, const gh_spawn_opts* opts);
/* Waits for the thread to end and stores fn's result. pthread_join's codes. */
int gh_join(gh_thread_t thread, void** result);
/* Lets the thread be freed when it ends. pthread_detach's codes. */
int gh_detach(gh_thread_t thread);
/* Lets the other runnable green threads of the carrier run first. */
void gh_yield(void);
/* Sleeps ns nanoseconds (never less; ns <= 0: not at all). Returns 0, or
 * ETIMEDOUT when an enclosing gh_timeout ran out first. Signal handlers do
 * not end it. */
int gh_sleep(int64_t ns);
/* The calling thread's id: gettid()'s value for it, unique in the process. */
pid_t gh_id(void);

/* ---- Timeout: a deadline for everything a thread waits for ---- */

/* Between gh_timeout_start and gh_timeout_end, the calling thread's waits
 * end with ETIMEDOUT once ns nanoseconds have passed: gh_* calls that wait,
 * and reads, writes, sends, receives, accept and connect on sockets and
 * pipes (-1 with errno ETIMEDOUT). Scopes nest (the earliest deadline counts) and must end in
 * reverse order, on the thread that started them. The struct lives on the
 * caller's stack; its fields are private. */
typedef struct gh_timeout {
  int64_t deadline_;
  int64_t outer_;
} gh_timeout_t;
void gh_timeout_start(gh_timeout_t* t, int64_t ns);
void gh_timeout_end(gh_timeout_t* t);
/* 1 once this scope's deadline has passed, else 0. */
int gh_timeout_expired(const gh_timeout_t* t);

/* ---- Event: a flag threads wait for ---- */

/* Zero-filled storage (GH_EVENT_INIT) is a clear event; no destructor. */
typedef struct gh_event {
  uint32_t word_;
  uint32_t pad_;
} gh_event_t;
#define GH_EVENT_INIT {0, 0}

/* Sets the flag and wakes every waiter. */
void gh_event_set(gh_event_t* e);
void gh_event_clear(gh_event_t* e);
int gh_event_is_set(const gh_event_t* e);
/* Returns 0 once the flag is set (at once if it is), else ETIMEDOUT or
 * EAGAIN (timeout 0). */
int gh_event_wait(gh_event_t* e, int64_t timeout_ns);

/* ---- Channel: messages of a fixed size between threads ---- */

typedef struct gh_chan gh_chan_t;
#define GH_UNBOUNDED ((size_t)-1)

/* A channel of elem_size-byte messages (1..65536) with room for capacity of
 * them: 0 is unbuffered (a send waits for a receiver), GH_UNBOUNDED grows
 * (a send never waits). NULL with errno ENOMEM or EINVAL. */
gh_chan_t* gh_chan_new(size_t elem_size, size_t capacity);
/* Frees it; no thread may still be using it. */
void gh_chan_free(gh_chan_t* c);
/* Copies elem_size bytes from value into the channel. Returns 0, EPIPE
 * (closed), ETIMEDOUT, EAGAIN (timeout 0) or ENOMEM (GH_UNBOUNDED could not
 * grow). */
int gh_chan_send(gh_chan_t* c, const void* value, int64_t timeout_ns);
/* Takes the oldest message into value (NULL: drops it). Returns 0, EPIPE
 * (closed and empty: value is zero-filled), ETIMEDOUT or EAGAIN. */
int gh_chan_recv(gh_chan_t* c, void* value, int64_t timeout_ns);
/* No more sends: waiting and later senders get EPIPE, receivers get what is
 * buffered, then EPIPE. Returns 0, or EPIPE if already closed. */
int gh_chan_close(gh_chan_t* c);
/* Messages buffered now; the capacity given to gh_chan_new. */
size_t gh_chan_len(gh_chan_t* c);
size_t gh_chan_cap(gh_chan_t* c);

enum { GH_RECV = 0, GH_SEND = 1 };
typedef struct gh_select_case {
  gh_chan_t* chan;
  int op;      /* GH_RECV or GH_SEND */
  void* value; /* what to send, or where to receive (NULL: drop) */
  int status;  /* set for the chosen case: 0, EPIPE (closed) or ENOMEM */
} gh_select_case;
#define GH_SELECT_MAX 64
/* Waits until one of n (1..GH_SELECT_MAX) cases can proceed, completes it
 * and returns its index; the others do nothing. Among cases ready together
 * each is equally likely to be chosen. A case on a closed channel is ready
 * (status EPIPE). Returns a negative error number instead: -ETIMEDOUT,
 * -EAGAIN (timeout 0, nothing ready), -EINVAL. */
int gh_select(gh_select_case* cases, size_t n, int64_t timeout_ns);

/* ---- Queue: a FIFO of pointers (Python's queue.Queue, gevent's Queue) ---- */

typedef struct gh_queue gh_queue_t;
/* maxsize 0: unbounded. NULL with errno ENOMEM. */
gh_queue_t* gh_queue_new(size_t maxsize);
void gh_queue_free(gh_queue_t* q);
/* Returns 0, ETIMEDOUT, EAGAIN (timeout 0 and full), EPIPE (closed). */
int gh_queue_put(gh_queue_t* q, void* item, int64_t timeout_ns);
/* Returns 0 with *item, ETIMEDOUT, EAGAIN (timeout 0 and empty), EPIPE
 * (closed and empty). */
int gh_queue_get(gh_queue_t* q, void** item, int64_t timeout_ns);
int gh_queue_close(gh_queue_t* q);
size_t gh_queue_size(gh_queue_t* q);

/* ---- Pool: at most `size` tasks at once ---- */

typedef struct gh_pool gh_pool_t;
/* size >= 1. NULL with errno EINVAL or ENOMEM. */
gh_pool_t* gh_pool_new(size_t size);
/* Waits for every task (whatever gh_timeout scope is open), then frees it. */
void gh_pool_free(gh_pool_t* p);
/* Runs fn(arg) once fewer than `size` tasks are queued or running (waiting
 * for a slot), on one of the pool's worker green threads (made as needed, up
 * to `size`; one idle for a second ends): a later task on the same worker
 * sees the thread-locals an earlier one left. Returns 0, ETIMEDOUT (no slot
 * in time; an enclosing gh_timeout) or EAGAIN (the pool has no worker and
 * none could be made; the task is not run). */
int gh_pool_spawn(gh_pool_t* p, void* (*fn)(void*), void* arg);
/* Waits until no task is queued or running. Returns 0, ETIMEDOUT or EAGAIN
 * (timeout 0). */
int gh_pool_join(gh_pool_t* p, int64_t timeout_ns);
/* Tasks queued or running now. */
size_t gh_pool_running(gh_pool_t* p);
/* out[i] = fn(in[i]) for i < n, at most `size` at once; returns when all
 * are done (a gh_timeout scope limits only the waits for slots). Returns 0,
 * or EAGAIN/ETIMEDOUT if a task could not start: those that did are waited
 * for, the others' out[i] are NULL. */
int gh_pool_map(gh_pool_t* p, void* (*fn)(void*), void* const* in, void** out, size_t n);
/* The same, but done(ctx, i, fn(in[i])) is called on the calling thread as
 * each result arrives, in the order they finish. */
int gh_pool_map_unordered(gh_pool_t* p, void* (*fn)(void*), void* const* in, size_t n,
                          void (*done)(void* ctx, size_t i, void* result), void* ctx);

/* ---- Green-local storage ---- */

/* Per green thread, as pthread keys (which it is: gh_local_t is a
 * pthread_key_t); C11 thread_local / __thread are per green thread too. */
typedef pthread_key_t gh_local_t;
int gh_local_new(gh_local_t* key, void (*destructor)(void*));
int gh_local_delete(gh_local_t key);
void* gh_local_get(gh_local_t key);
int gh_local_set(gh_local_t key, const void* value);

#ifdef __cplusplus
}
#endif

#endif /* GREENHOUSE_H */
