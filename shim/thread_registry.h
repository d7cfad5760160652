// SPDX-License-Identifier: MIT
// The thread registry: the shim's per-green-thread record behind a
// pthread_t, how records are found, made and freed, and the start-up of the
// thread machinery. A green thread's pthread_t is a pointer to its
// ShimThread; a carrier's root green thread keeps the real pthread_t of its
// OS thread, so that glibc functions the shim does not emulate still work
// on it. Hook files call this; it calls no hook file.
#pragma once

#include <signal.h>
#include <pthread.h>
#include <unwind.h>

#include <atomic>
#include <cstdint>

#include "core/arch_x86_64.h"
#include "core/carrier.h"
#include "core/compiler.h"
#include "core/green_thread.h"

namespace gh::shim {

constexpr uint64_t kShimThreadMagic = 0x6772656e68737431ull;  // "grenhst1"

struct KeySlot {
  void* value = nullptr;
  uint64_t seq = 0;  // the key's sequence when value was set
};

// A carrier's root as a thread others may join (main after pthread_exit).
struct RootJoin {
  bool exited = false;
  bool joined = false;
  void* value = nullptr;
  gh::Waiter* waiter = nullptr;
};

// The siginfo of a signal kept pending for one green thread (below): its
// first bytes, which hold every field the kernel fills for a signal that is
// not a fault (the timer's id and value, the sender, the child's status).
constexpr size_t kKeptInfoBytes = 48;
struct KeptInfo {
  std::atomic<int> sig{0};  // 0: free; -sig: being written
  unsigned char bytes[kKeptInfoBytes];
};
constexpr int kKeptInfos = 2;

struct ShimThread : ArenaObject {
  ShimThread* live_prev = nullptr;     // [registry lock] live green threads
  ShimThread* live_next = nullptr;     // [registry lock]
  uint64_t magic = kShimThreadMagic;   // [const] tells our handles from glibc's
  GreenThread* g = nullptr;            // [const after start]
  pthread_t native = 0;                // [const] real handle of the carrier's OS thread
  bool root = false;                   // [const] the carrier's root green thread
  void* (*start)(void*) = nullptr;     // [const]
  void* arg = nullptr;                 // [const]
  void* exit_value = nullptr;          // [own thread] set by pthread_exit
  KeySlot** key_blocks = nullptr;      // [own thread] lazily allocated TSD
  void* cleanup_top = nullptr;         // [own thread] C pthread_cleanup_push buffers
  _Unwind_Exception exit_exception{};  // [own thread] the forced unwind of pthread_exit
  bool name_known = false;             // [own thread] root: g->name holds the OS thread's comm
  // [own thread] set_tid_address(2): cleared, and woken as a futex, when the
  // thread ends, as the kernel does for an OS thread.
  uint32_t* clear_tid = nullptr;
  // Signals sent to this green thread with pthread_kill while its mask
  // blocks them: pending for it alone, raised when it unblocks them, seen by
  // its sigpending and sigwait (bit sig-1, as in the kernel's sigset).
  std::atomic<uint64_t> pending_signals{0};
  // What the first kKeptInfos of them came with (keep_signal / kept_info);
  // one kept while these are in use reads as a pthread_kill from this
  // process. Further instances of a real-time signal queue in a
  // process-wide table (shim/kept_signals.cc); `queued` counts this
  // thread's there.
  KeptInfo kept_info[kKeptInfos];
  std::atomic<uint32_t> queued{0};
  // Set once its start routine is about to run: until then a signal for it
  // stays pending (glibc's new threads block every signal until then).
  std::atomic<bool> started{false};
  RootJoin root_join;  // [carrier] the root's: its joiner
  // [own thread] its sigaltstack(2): ss_sp and ss_size as set (nullptr and
  // 0 when disabled), ss_flags only SS_AUTODISARM. The kernel's is the
  // runtime's, for every green thread of the carrier (shim/hook_altstack.cc).
  stack_t alt_stack{nullptr, 0, 0};
};

// Makes sig pending for st alone, with the siginfo it came with (nullptr:
// a pthread_kill's). A real-time signal queues one instance per call, as
// the kernel queues them; a standard one pending already is not kept again.
void keep_signal(ShimThread* st, int sig, const siginfo_t* info);
// After its bit was taken from st->pending_signals: the siginfo sig came
// with, which it gives up; the bit is set again while more instances of a
// real-time sig are queued. Async-signal-safe.
siginfo_t kept_info(ShimThread* st, int sig);
// Forgets every signal kept for st (its end; the forking thread in a fork
// child, which starts with none pending).
void drop_kept_signals(ShimThread* st);
// In a fork child: nothing is pending, for the forking thread (self, if it
// has a record) or any other.
void kept_signals_after_fork_child(ShimThread* self);
// The siginfo of a signal this process sends itself: sig, code, its pid
// and uid. tkill_info is pthread_kill's (SI_TKILL).
siginfo_t own_info(int sig, int code);
siginfo_t tkill_info(int sig);

// pthread_kill(sig) of green thread (or root) t when t does not run: its
// handler runs in a frame on t's own stack (hook_signal.cc), or the signal
// stays pending for t if the frame on top blocks it. Returns 1 if done so,
// 0 if it must go through the kernel (t runs, the default action or SIG_IGN,
// no room on t's stack).
// may_yield: from the program's own call (pthread_kill), the caller yields
// to the handler.
// came: the siginfo it came with (nullptr: a pthread_kill's).
int signal_parked_thread(GreenThread* t, int sig, bool may_yield, const siginfo_t* came = nullptr);
// A green thread (not main) that takes process-directed signal sig now (its
// mask lets it through) and does not run: returned held (its on_cpu taken),
// for the caller to place the signal and let it go. nullptr if none, or if
// the registry is busy; *running_elsewhere says whether one that takes it
// runs on a carrier now. Async-signal-safe (it only tries the lock).
GreenThread* registry_thread_taking(int sig, bool* running_elsewhere);
// Sends sig to carrier c's OS thread for program thread `target` (set as
// its signal target there), with `info` (nullptr: a pthread_kill's). Sets
// *sent (if given) to whether it was queued. Returns a target it displaced
// there, whose signal the caller sends again, or nullptr.
GreenThread* send_directed(Carrier* c, GreenThread* target, int sig, const siginfo_t* info,
                           bool* sent);
// Carrier::set_frame_end_hook's (hook_signal.cc).
void after_frame(GreenThread* x);

// Raises, on the calling green thread, the pending signals its mask no longer
// blocks (after a pthread_sigmask/sigprocmask change).
void raise_unblocked_pending(ShimThread* st, uint64_t mask);

// Around a call that the shim passes to libc and that waits with a
// temporary signal mask (sigsuspend, ppoll, pselect, epoll_pwait with a
// mask, by a green thread alone on its carrier): while it waits, the
// thread blocks, as the signal trampoline reads it, only what both that
// mask and its own block. Without it a signal the call unblocks would find
// the thread still blocking it, be put back as pending, and end the call
// without its handler, again and again; with the call's mask alone, one
// that only the call blocks, delivered as the call returns, would be
// (hook_signal.cc).
class CallMask {
 public:
  explicit CallMask(const sigset_t* set);
  ~CallMask();
  CallMask(const CallMask&) = delete;
  CallMask& operator=(const CallMask&) = delete;

 private:
  bool on_ = false;
  uint64_t old_ = 0;
};

// Set while a signal handler runs for a pthread_kill aimed at a green
// thread: pthread_self() answers with it (hook_signal.cc).
// &g_root_self stands for the carrier's root (its OS thread's own handle).
extern thread_local ShimThread* t_signal_self GH_TLS;
extern ShimThread g_root_self;

// Whether the thread functions are green (the shim is initialised and on).
bool threads_green();

// The running green thread's record (created for a root on first use).
ShimThread* shim_self();

// The pthread_t of the calling OS thread as glibc knows it (for glibc
// functions that act on OS threads): its carrier's, not the running green
// thread's own thread control block.
pthread_t os_thread_handle();
// The pthread_t of the running root (main): its own thread control block,
// on whichever carrier it runs. For a green thread, its pool's program root.
pthread_t root_handle();
// The root of c's pool that is a program thread (main for the process
// pool), or nullptr.
GreenThread* program_root(Carrier* c);

// Thread ids (docs/design.md, "Thread ids"): a green thread's id is
// kGreenTidBase plus the low 29 bits of its GreenThread::id: above any id
// the kernel hands out (pid_max is at most 2^22) and inside FUTEX_TID_MASK
// (glibc keeps it in robust and priority-inheritance mutexes, where bit 30
// means "owner died"); ids wrap after 2^29 threads, as the kernel's do. A
// root's is its OS thread's.
constexpr pid_t kGreenTidBase = 0x20000000;
constexpr uint64_t kGreenTidMask = (uint64_t{1} << 29) - 1;
inline pid_t green_tid(uint64_t id) {
  return kGreenTidBase + static_cast<pid_t>(id & kGreenTidMask);
}
inline bool is_green_tid(long tid) {
  return tid >= kGreenTidBase && tid <= kGreenTidBase + static_cast<long>(kGreenTidMask);
}

// The calling thread's id as gettid() reports it.
pid_t current_tid();

// Adds st (a green thread just created) to the live threads, or removes it
// (at its exit).
void registry_add(ShimThread* st);
void registry_remove(ShimThread* st);

// In a fork child: the registry holds only `self` (the forking thread, if
// pthread_create made it); the parent's other threads are not here.
void registry_after_fork_child(ShimThread* self);

// Calls fn on every live green thread made by pthread_create (roots are
// not in the registry), under the registry lock: a thread cannot end
// meanwhile.
void registry_for_each(void (*fn)(ShimThread*, void*), void* arg);

// Calls fn on the live green thread with id tid, under the registry lock
// (fn must not block), and returns true; false if there is none.
bool with_green_tid(pid_t tid, void (*fn)(ShimThread*, void*), void* arg);

// For the thread-id hooks (hook_tid.cc): the OS thread id behind `tid`
// (-1, errno ESRCH, for a green thread that does not exist), and tgkill of a
// green thread's id, or rt_tgsigqueueinfo with `info` (0 or -errno).
long os_tid_of(long tid);
long green_tgkill(long tgid, long tid, int sig, const siginfo_t* info = nullptr);

// pthread_kill (info: nullptr) or a queued signal with `info` to green
// thread or root t, as the kernel would send it to an OS thread: 0 or an
// error number (hook_thread.cc).
int signal_green_thread(pthread_t t, int sig, const siginfo_t* info);

// The record of a root green thread (made on first use).
ShimThread* root_record(GreenThread* root);

// The ShimThread behind t, or nullptr if t is a glibc handle.
ShimThread* shim_from_handle(pthread_t t);

// Frees a record the shim made with pthread_create (its keys too).
void free_shim_thread(ShimThread* st);

// Makes sure thread-specific data of every green thread is cleaned up at its
// exit, carriers at their OS thread's exit, and the offload pool starts its
// threads natively. Once, from shim_init().
void threads_init();

// Makes the process pool (its first carrier will be the calling OS
// thread's): at start-up, and in a fork child.
void new_process_pool();
// Starts the process pool's other carriers and its hand-off monitor, once:
// at the first pthread_create of a thread of the pool.
void start_carriers();
// pthread_create of a green thread (threads_green()), with a name (nullptr:
// the creator's, as glibc) and a carrier index to pin it to (-1: any; the
// caller checked it is one of the pool's). pthread codes.
int create_green_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                        void* arg, const char* name, int carrier);

// Starts a native OS thread (all hooks pass through on it) running fn(arg),
// detached, named `name` (a runtime thread: gh-*) before it runs and before
// this returns. Returns 0 or an errno value.
int start_native_thread(void* (*fn)(void*), void* arg, const char* name);

// The signal that interrupts an offload-pool thread's waiting call
// (core/offload.h); reserved by the runtime (shim/hook_signal.cc).
constexpr int kOffloadInterruptSignal = 64;
// The calling OS thread's own glibc descriptor (a thread pointer): its
// carrier's, whichever green thread's is loaded now; outside a carrier, the
// one loaded. For glibc code that acts on "self" as an OS thread (set*id).
inline void* os_descriptor() {
  gh::Carrier* c = gh::Carrier::current();
  return c ? c->os_tp() : gh::arch::thread_pointer();
}
// Puts a wrapper around glibc's SIGSETXID handler, once glibc has installed
// it (at the first native pthread_create, and again in a fork child), so
// that set*id calls reach carriers that run green threads (hook_signal.cc).
void wrap_setxid_handler();
// In a fork child made inside a signal handler: the child does not run in a
// handler of its own, so its hooks stop passing through (the child of a
// server's SIGCHLD handler that forks a worker keeps running there).
void forget_handlers_after_fork();
// At the first green thread, while the program is still single-threaded:
// makes sure glibc has done what it does at its first thread (the handlers
// of its own signals) and wraps the SIGSETXID handler.
void ensure_glibc_thread_setup();
// Installs its handler. Returns the signal, or 0 if it cannot be had.
int install_offload_interrupt();
// Whether install_offload_interrupt() got it (valgrind keeps it for itself):
// only then may the runtime send it (its default action ends the process).
bool offload_interrupt_installed();

}  // namespace gh::shim
