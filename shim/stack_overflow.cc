// SPDX-License-Identifier: MIT
#include "shim/stack_overflow.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "core/carrier.h"
#include "core/log.h"
#include "core/spinlock.h"
#include "core/stack.h"
#include "core/tsa.h"
#include "core/sys.h"
#include "shim/config.h"
#include "shim/real.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

namespace gh::shim {

namespace {

// Address space only (MAP_NORESERVE): room for a program's own SIGSEGV
// handler that symbolises a backtrace, as well as for the report.
constexpr size_t kAltStackSize = 1024 * 1024;

// libunwind's local unwinder, loaded with RTLD_LOCAL: linked normally its
// _Unwind_* would take the place of libgcc's for the whole program.
struct Unwinder {
  int (*init_local2)(void* cursor, void* uc, int flag) = nullptr;
  int (*step)(void* cursor) = nullptr;
  int (*get_reg)(void* cursor, int reg, uint64_t* val) = nullptr;
  int (*get_proc_name)(void* cursor, char* buf, size_t len, uint64_t* off) = nullptr;
};
std::atomic<bool> g_unwinder_ready{false};
Unwinder g_unwinder;
constexpr int kUnwRegIp = 16;            // UNW_X86_64_RIP
constexpr int kUnwInitSignalFrame = 1;   // UNW_INIT_SIGNAL_FRAME
constexpr size_t kUnwCursorWords = 127;  // UNW_TDEP_CURSOR_LEN
constexpr int kMaxFrames = 24;           // lines of backtrace
constexpr long kMaxSteps = 1'000'000;    // frames walked (an 8 MiB recursion has ~100,000)

// One walk of a stack at a time (reports, thread dumps, hog captures):
// libunwind tests addresses through one pipe, and two carriers walking at
// once read each other's answers, and then memory that is not there (8
// threads overflowing and recovering at once crashed 19 runs in 20).
SpinLock g_walking;

std::atomic<int> g_dfl_flags[3];  // SIGSEGV, SIGBUS: the flags of the program's SIG_DFL
int slot(int sig) { return sig == SIGSEGV ? 1 : sig == SIGBUS ? 2 : 0; }

// What the program had set on the OS thread that initialised the runtime
// (a library constructor run before ours): main's own, from then on.
stack_t g_initial_program_alt{nullptr, 0, 0};

// Gives the calling OS thread the runtime's alternate signal stack, in
// place of one that code before the runtime set (kept as main's own: the
// kernel's stack serves every green thread there, and the program may free
// its own).
// Once per OS thread: the runtime's own threads start without one.
void ensure_alt_stack(bool keep_existing_as_main) {
  stack_t cur{};
  if (gh::sys(SYS_sigaltstack, nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
    if (!keep_existing_as_main) return;
    g_initial_program_alt = cur;
    g_initial_program_alt.ss_flags &= static_cast<int>(kSsAutoDisarm);
  }
  long pg = static_cast<long>(page_size());
  void* p =
      reinterpret_cast<void*>(gh::sys(SYS_mmap, nullptr, kAltStackSize + pg, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (p == MAP_FAILED || reinterpret_cast<long>(p) < 0) return;
  // A guard below it too: an overflow of the handler must not go unnoticed.
  gh::sys(SYS_mprotect, p, pg, PROT_NONE);
  stack_t ss{};
  ss.ss_sp = static_cast<char*>(p) + pg;
  ss.ss_size = kAltStackSize;
  gh::sys(SYS_sigaltstack, &ss, nullptr);
}

void install_default(int sig) {
  struct sigaction sa {};
  sa.sa_sigaction = &default_fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  real::sigaction(sig, &sa, nullptr);
}

// Writes the frames from the faulting one outwards; a run of frames at the
// same address (a recursion) is one line with its count.
void backtrace(void* uc) {
  if (!g_unwinder_ready.load(std::memory_order_acquire)) return;
  uint64_t cursor[kUnwCursorWords];
  if (g_unwinder.init_local2(cursor, uc, kUnwInitSignalFrame) < 0) return;
  int lines = 0;
  uint64_t run_ip = 0;
  long run = 0;
  char name[128];
  uint64_t off = 0;
  bool named = false;
  auto flush = [&] {
    if (run == 0) return;
    char count[32] = "";
    if (run > 1) std::snprintf(count, sizeof count, " (%ld frames)", run);
    if (named)
      log_error("  #%d 0x%lx %s+0x%lx%s", lines, static_cast<unsigned long>(run_ip), name,
                static_cast<unsigned long>(off), count);
    else
      log_error("  #%d 0x%lx%s", lines, static_cast<unsigned long>(run_ip), count);
    lines++;
  };
  for (long steps = 0; steps < kMaxSteps; steps++) {
    uint64_t ip = 0;
    g_unwinder.get_reg(cursor, kUnwRegIp, &ip);
    if (run > 0 && ip == run_ip) {
      run++;
    } else {
      flush();
      if (lines >= kMaxFrames) {
        log_error("  ...");
        return;
      }
      run_ip = ip;
      run = 1;
      named = g_unwinder.get_proc_name(cursor, name, sizeof name, &off) == 0;
    }
    if (g_unwinder.step(cursor) <= 0) break;
  }
  flush();
}

// Loads libunwind privately and resolves what the report uses.
void load_unwinder() {
  void* h = real::dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    log_debug("libunwind.so.8 not loaded: stack overflow reports come without a backtrace");
    return;
  }
  g_unwinder.init_local2 =
      reinterpret_cast<decltype(g_unwinder.init_local2)>(dlsym(h, "_ULx86_64_init_local2"));
  g_unwinder.step = reinterpret_cast<decltype(g_unwinder.step)>(dlsym(h, "_ULx86_64_step"));
  g_unwinder.get_reg =
      reinterpret_cast<decltype(g_unwinder.get_reg)>(dlsym(h, "_ULx86_64_get_reg"));
  g_unwinder.get_proc_name =
      reinterpret_cast<decltype(g_unwinder.get_proc_name)>(dlsym(h, "_ULx86_64_get_proc_name"));
  // No caching: the cache takes a lock and changes the signal mask, which a
  // report made in a signal handler must not.
  auto set_caching =
      reinterpret_cast<int (*)(void*, int)>(dlsym(h, "_ULx86_64_set_caching_policy"));
  auto* local_as = static_cast<void**>(dlsym(h, "_ULx86_64_local_addr_space"));
  if (!set_caching || !local_as || set_caching(*local_as, 0 /* UNW_CACHE_NONE */) != 0) return;
  if (!g_unwinder.init_local2 || !g_unwinder.step || !g_unwinder.get_reg ||
      !g_unwinder.get_proc_name)
    return;
  // One unwind now, so that whatever libunwind sets up on first use (its
  // address-test pipe) is made here, not in a signal handler.
  ucontext_t uc;
  uint64_t cursor[kUnwCursorWords];
  if (getcontext(&uc) == 0 && g_unwinder.init_local2(cursor, &uc, 0) >= 0) g_unwinder.step(cursor);
  g_unwinder_ready.store(true, std::memory_order_release);
}

}  // namespace

bool is_fault_signal(int sig) { return sig == SIGSEGV || sig == SIGBUS; }

int walk_stack(void* uc, bool signal_frame, int max,
               void (*frame)(void* ctx, uint64_t ip, const char* name, uint64_t off),
               void* ctx) GH_NO_TSA {  // g_walking is let go by Unlock's destructor
  if (!g_unwinder_ready.load(std::memory_order_acquire) || !g_walking.try_lock()) return -1;
  struct Unlock {
    ~Unlock() { g_walking.unlock(); }
  } unlock;
  uint64_t cursor[kUnwCursorWords];
  if (g_unwinder.init_local2(cursor, uc, signal_frame ? kUnwInitSignalFrame : 0) < 0) return 0;
  int n = 0;
  char name[256];
  for (; n < max; n++) {
    uint64_t ip = 0, off = 0;
    g_unwinder.get_reg(cursor, kUnwRegIp, &ip);
    bool named = g_unwinder.get_proc_name(cursor, name, sizeof name, &off) == 0;
    frame(ctx, ip, named ? name : nullptr, off);
    if (g_unwinder.step(cursor) <= 0) {
      n++;
      break;
    }
  }
  return n;
}

void set_fault_flags(int sig, int flags) {
  if (slot(sig)) g_dfl_flags[slot(sig)].store(flags, std::memory_order_relaxed);
}

int fault_flags(int sig) {
  return slot(sig) ? g_dfl_flags[slot(sig)].load(std::memory_order_relaxed) : 0;
}

void overflow_init() {
  ensure_alt_stack(true);
  for (int sig : {SIGSEGV, SIGBUS}) {
    struct sigaction cur {};
    if (real::sigaction(sig, nullptr, &cur) != 0) continue;
    // Only where the disposition is the default: a handler (of a library
    // constructor run before ours) is the program's, and SIG_IGN (inherited
    // across exec) stays as natively.
    if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL) continue;
    set_fault_flags(sig, cur.sa_flags);
    install_default(sig);
  }
}

void overflow_thread_start() { ensure_alt_stack(false); }

stack_t* initial_program_alt_stack() { return &g_initial_program_alt; }

void overflow_prepare_backtrace() {
  static std::atomic<bool> tried{false};
  if (tried.exchange(true)) return;
  // libunwind tests addresses by writing them to a pipe, which memcheck
  // reports as a write of uninitialised bytes; valgrind reports faults itself.
  if (config().valgrind) return;
  Bypass bypass;
  // libunwind makes a pipe when it initialises (to test addresses): the
  // runtime's, not one of the program's low fd numbers.
  t_runtime_fds = true;
  load_unwinder();
  t_runtime_fds = false;
}

void report_overflow(int sig, const siginfo_t* info, void* uc) {
  if (!info || info->si_code <= 0) return;  // sent, not a fault
  // Whatever the report calls (libunwind) must not reach the hooks.
  Bypass bypass;
  Carrier* c = Carrier::current();
  GreenThread* g = c ? c->signal_safe_running() : nullptr;
  if (!g || g->is_root() || !g->pooled_stack) return;
  const char* addr = static_cast<const char*>(info->si_addr);
  const char* lo = static_cast<const char*>(g->stack.lo);
  if (addr >= lo || addr < lo - page_size()) return;
  auto* ctx = static_cast<ucontext_t*>(uc);
  uintptr_t sp = ctx ? static_cast<uintptr_t>(ctx->uc_mcontext.gregs[REG_RSP]) : 0;
  uintptr_t hi = reinterpret_cast<uintptr_t>(g->stack.hi());
  size_t used = sp && sp <= hi ? hi - sp : g->stack.size;
  log_error(
      "stack overflow in thread %s (id %ld): stack %zu KiB, used %zu KiB; set "
      "GREENHOUSE_STACK_SIZE (or pthread_attr_setstacksize) larger",
      g->name[0] ? g->name : "?", static_cast<long>(green_tid(g->id)), g->stack.size / 1024,
      used / 1024);
  (void)sig;
  // A report that finds another walk under way (g_walking) goes without its
  // backtrace rather than wait in a fault handler.
  if (!g_walking.try_lock()) {
    log_error("  (backtrace left out: another stack is being walked)");
    return;
  }
  backtrace(uc);
  g_walking.unlock();
}

void default_fault_handler(int sig, siginfo_t* info, void* uc) {
  report_overflow(sig, info, uc);
  // A fault recurs when the instruction runs again; BUS_MCEERR_AO (memory
  // corruption found in the background) and sent signals do not.
  bool fault = info && info->si_code > 0 && !(sig == SIGBUS && info->si_code == BUS_MCEERR_AO);
  // The default action, as natively: a fault recurs when we return (and
  // kills the process), a sent signal is sent again (it is blocked here,
  // so it arrives when we return).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  real::sigaction(sig, &dfl, nullptr);
  if (!fault) gh::sys(SYS_tgkill, gh::sys(SYS_getpid), gh::sys(SYS_gettid), sig);
}

}  // namespace gh::shim
