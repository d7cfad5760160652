// SPDX-License-Identifier: MIT
#include "shim/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cxxabi.h>

#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <vector>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/pool.h"
#include "core/sys.h"
#include "shim/config.h"
#include "shim/stack_overflow.h"
#include "shim/thread_registry.h"

namespace gh::shim {

namespace {

constexpr int kMaxFrames = 48;

void add(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void add(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
}

// The length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one.
int utf8_len(const unsigned char* s) {
  if (s[0] < 0x80) return 1;
  int n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return n;
}

// A JSON string literal of s. Names come from the program (thread names) and
// may hold anything: control characters are escaped, bytes that are not
// UTF-8 become U+FFFD, so the document always parses.
void add_json_string(std::string* out, const char* s) {
  out->push_back('"');
  for (auto* p = reinterpret_cast<const unsigned char*>(s); p && *p;) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      add(out, "\\u%04x", c);
      p++;
    } else if (int n = utf8_len(p)) {
      out->append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
      p += n;
    } else {
      out->append("\\ufffd");
      p++;
    }
  }
  out->push_back('"');
}

// A name for the text report: control characters (a terminal's escape
// sequences) shown as '?'.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

const char* state_name(GreenState s) {
  switch (s) {
    case GreenState::kRunnable:
      return "runnable";
    case GreenState::kRunning:
      return "running";
    case GreenState::kParked:
      return "parked";
    case GreenState::kExited:
      return "exited";
  }
  return "?";
}

struct Frame {
  uint64_t ip;
  uint64_t off;
  std::string name;
};

// One thread as the report shows it, copied while it is looked at.
struct Row {
  GreenThread* root = nullptr;  // a carrier's root (not in the registry), else nullptr
  long id = 0;
  std::string name;
  const char* state = "";
  int carrier = -1;
  WaitInfo wait;
  double waited_s = -1;
  bool has_stack = false;
  std::vector<Frame> frames;
};

// A C++ symbol as people read it; C names (and failures) unchanged.
std::string demangled(const char* name) {
  if (!name) return "";
  int status = -1;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

int carrier_index(Pool* p, const Carrier* c) {
  for (int i = 0; c && i < p->slots(); i++)
    if (p->slot(i) == c) return i;
  return -1;
}

// A parked thread's saved registers as a ucontext for libunwind. The frame
// gh_context_switch leaves (docs/design.md, "Context switch"): r15 at sp+8
// .. rbp at sp+0x30, the return address at sp+0x38, the caller's stack
// pointer after the return at sp+0x40.
void context_of(void* sp, ucontext_t* uc) {
  auto* w = static_cast<uint64_t*>(sp);
  uc->uc_mcontext.gregs[REG_R15] = static_cast<greg_t>(w[1]);
  uc->uc_mcontext.gregs[REG_R14] = static_cast<greg_t>(w[2]);
  uc->uc_mcontext.gregs[REG_R13] = static_cast<greg_t>(w[3]);
  uc->uc_mcontext.gregs[REG_R12] = static_cast<greg_t>(w[4]);
  uc->uc_mcontext.gregs[REG_RBX] = static_cast<greg_t>(w[5]);
  uc->uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(w[6]);
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(w[7]);
  uc->uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(reinterpret_cast<uintptr_t>(&w[8]));
}

// Holds g if it is parked (on_cpu: no carrier resumes it until released)
// and returns its saved stack pointer, else nullptr.
void* hold_parked(GreenThread* g) {
  bool free_now = false;
  if (!g->on_cpu.compare_exchange_strong(free_now, true, std::memory_order_acquire)) return nullptr;
  if (g->state.load(std::memory_order_acquire) == GreenState::kParked && g->sp) return g->sp;
  g->on_cpu.store(false, std::memory_order_release);
  return nullptr;
}

// The backtrace of the parked thread of `row`, taken while it is held: one
// thread at a time, and outside the registry lock (a held thread cannot end,
// so it stays valid; nothing else waits for the walk but a carrier that
// wants to resume this very thread).
void take_stack(Row* row) {
  GreenThread* g = row->root;
  void* sp = nullptr;
  if (g) {
    sp = hold_parked(g);
  } else {
    struct Held {
      GreenThread* g = nullptr;
      void* sp = nullptr;
    } held;
    with_green_tid(
        static_cast<pid_t>(row->id),
        [](ShimThread* st, void* a) {
          auto* h = static_cast<Held*>(a);
          if (!st->g) return;
          h->sp = hold_parked(st->g);
          if (h->sp) h->g = st->g;
        },
        &held);
    g = held.g;
    sp = held.sp;
  }
  if (!sp) return;
  ucontext_t uc{};
  context_of(sp, &uc);
  row->has_stack = true;
  walk_stack(
      &uc, false, kMaxFrames,
      [](void* ctx, uint64_t ip, const char* name, uint64_t off) {
        static_cast<Row*>(ctx)->frames.push_back(Frame{ip, off, name ? name : ""});
      },
      row);
  g->on_cpu.store(false, std::memory_order_release);
  for (Frame& f : row->frames) f.name = demangled(f.name.empty() ? nullptr : f.name.c_str());
}

Row row_of(Pool* p, GreenThread* g, long id, const ReportOptions& opt) {
  Row r;
  r.id = id;
  char name[sizeof g->name + 1] = {};
  for (size_t i = 0; i < sizeof g->name && g->name[i]; i++) name[i] = g->name[i];
  r.name = name;
  GreenState s = g->state.load(std::memory_order_acquire);
  r.state = state_name(s);
  r.carrier = carrier_index(p, g->carrier.load(std::memory_order_acquire));
  if (s == GreenState::kParked) {
    r.wait = g->wait;
    if (r.wait.since_ns > 0) r.waited_s = static_cast<double>(coarse_ns() - r.wait.since_ns) / 1e9;
  }
  (void)opt;
  return r;
}

std::vector<Row> collect(Pool* p, const ReportOptions& opt) {
  std::vector<Row> rows;
  // The program's own OS threads that became carriers: their roots.
  for (int i = 0; i < p->slots(); i++) {
    Carrier* c = p->slot(i);
    if (!c || c->root()->internal) continue;
    Row r = row_of(p, c->root(), c->os_tid(), opt);
    r.root = c->root();
    if (r.name.empty()) r.name = program_invocation_short_name;
    rows.push_back(std::move(r));
  }
  struct Ctx {
    Pool* p;
    const ReportOptions* opt;
    std::vector<Row>* rows;
  } ctx{p, &opt, &rows};
  registry_for_each(
      [](ShimThread* st, void* a) {
        auto* x = static_cast<Ctx*>(a);
        if (!st->g) return;
        x->rows->push_back(row_of(x->p, st->g, green_tid(st->g->id), *x->opt));
      },
      &ctx);
  if (opt.stacks)
    for (Row& r : rows)
      if (std::strcmp(r.state, "parked") == 0) take_stack(&r);
  return rows;
}

void wait_text(const Row& r, std::string* out) {
  if (!r.wait.what) return;
  add(out, "%s", r.wait.what);
  if (r.wait.fd >= 0) add(out, " fd %d", r.wait.fd);
  if (r.wait.object) add(out, " %p", r.wait.object);
}

// Context switches per second of each carrier slot, measured over a short
// window by write_report.
constexpr int kRateSlots = 256;
double g_rate[kRateSlots];

void measure_rates(Pool* p) {
  constexpr int64_t kWindowNs = 100'000'000;
  uint64_t before[kRateSlots] = {};
  int n = p->slots() < kRateSlots ? p->slots() : kRateSlots;
  for (int i = 0; i < n; i++)
    if (Carrier* c = p->slot(i)) before[i] = c->ticks();
  int64_t t0 = mono_ns();
  timespec w{0, kWindowNs};
  gh::sys(SYS_nanosleep, &w, nullptr);
  double secs = static_cast<double>(mono_ns() - t0) / 1e9;
  for (int i = 0; i < n; i++) {
    Carrier* c = p->slot(i);
    g_rate[i] = c && secs > 0 ? static_cast<double>(c->ticks() - before[i]) / secs : 0;
  }
}

double g_no_rate = -1;
bool g_rates_on = false;  // [control thread] this report measured them
double rate_of(int i) { return g_rates_on && i < kRateSlots ? g_rate[i] : g_no_rate; }

void text(Pool* p, const std::vector<Row>& rows, const ReportOptions& opt, std::string* out) {
  int carriers = 0;
  for (int i = 0; i < p->slots(); i++) carriers += p->slot(i) ? 1 : 0;
  add(out,
      "greenhouse: pid %d (%s): %zu green threads on %d carriers; hand-offs %" PRIu64
      ", spare carriers started %" PRIu64 "\n",
      static_cast<int>(getpid()), printable(program_invocation_short_name).c_str(), rows.size(),
      carriers, p->stats().handoffs.load(), p->stats().spares_started.load());
  for (int i = 0; i < p->slots(); i++) {
    Carrier* c = p->slot(i);
    if (!c) continue;
    GreenThread* run = c->running();
    add(out, "carrier %d: os thread %d, %s, %s, ready %u, %s requests %u, switches %" PRIu64, i,
        static_cast<int>(c->os_tid()), c->idle() ? "idle" : "busy",
        c->is_stuck() ? "stuck" : "not stuck", c->run_queue().size(),
        c->backend() ? c->backend()->name() : "no backend",
        c->backend() ? c->backend()->inflight() : 0, c->stats().switches);
    if (rate_of(i) >= 0) add(out, " (%.0f/s)", rate_of(i));
    add(out, "\n");
    (void)run;
  }
  add(out, "\n%-11s %-16s %-9s %-7s %-34s %s\n", "ID", "NAME", "STATE", "CARRIER", "WAITING ON",
      "FOR");
  for (const Row& r : rows) {
    std::string w;
    wait_text(r, &w);
    char carrier[16] = "-";
    if (r.carrier >= 0) std::snprintf(carrier, sizeof carrier, "%d", r.carrier);
    char waited[32] = "";
    if (r.waited_s >= 0) std::snprintf(waited, sizeof waited, "%.1f s", r.waited_s);
    add(out, "%-11ld %-16s %-9s %-7s %-34s %s\n", r.id, printable(r.name).c_str(), r.state, carrier,
        w.c_str(), waited);
    if (!opt.stacks) continue;
    if (!r.has_stack) continue;
    for (size_t i = 0; i < r.frames.size(); i++) {
      const Frame& f = r.frames[i];
      if (f.name.empty())
        add(out, "    #%zu 0x%" PRIx64 "\n", i, f.ip);
      else
        add(out, "    #%zu 0x%" PRIx64 " %s+0x%" PRIx64 "\n", i, f.ip, printable(f.name).c_str(),
            f.off);
    }
  }
}

void json(Pool* p, const std::vector<Row>& rows, const ReportOptions& opt, std::string* out) {
  add(out, "{\"pid\":%d,\"program\":", static_cast<int>(getpid()));
  add_json_string(out, program_invocation_short_name);
  add(out, ",\"handoffs\":%" PRIu64 ",\"spares_started\":%" PRIu64 ",\"carriers\":[",
      p->stats().handoffs.load(), p->stats().spares_started.load());
  bool first = true;
  for (int i = 0; i < p->slots(); i++) {
    Carrier* c = p->slot(i);
    if (!c) continue;
    add(out, "%s{\"index\":%d,\"os_tid\":%d,\"idle\":%s,\"stuck\":%s,\"ready\":%u,\"backend\":",
        first ? "" : ",", i, static_cast<int>(c->os_tid()), c->idle() ? "true" : "false",
        c->is_stuck() ? "true" : "false", c->run_queue().size());
    add_json_string(out, c->backend() ? c->backend()->name() : "");
    add(out, ",\"requests\":%u,\"switches\":%" PRIu64, c->backend() ? c->backend()->inflight() : 0,
        c->stats().switches);
    if (rate_of(i) >= 0) add(out, ",\"switches_per_s\":%.0f", rate_of(i));
    add(out, "}");
    first = false;
  }
  add(out, "],\"threads\":[");
  first = true;
  for (const Row& r : rows) {
    add(out, "%s{\"id\":%ld,\"name\":", first ? "" : ",", r.id);
    add_json_string(out, r.name.c_str());
    add(out, ",\"state\":\"%s\",\"carrier\":%d", r.state, r.carrier);
    if (r.wait.what) {
      add(out, ",\"wait\":{\"what\":");
      add_json_string(out, r.wait.what);
      if (r.wait.fd >= 0) add(out, ",\"fd\":%d", r.wait.fd);
      if (r.wait.object) add(out, ",\"object\":\"%p\"", r.wait.object);
      if (r.waited_s >= 0) add(out, ",\"seconds\":%.3f", r.waited_s);
      add(out, "}");
    }
    if (opt.stacks && r.has_stack) {
      add(out, ",\"stack\":[");
      for (size_t i = 0; i < r.frames.size(); i++) {
        add(out, "%s{\"ip\":\"0x%" PRIx64 "\"", i ? "," : "", r.frames[i].ip);
        if (!r.frames[i].name.empty()) {
          add(out, ",\"function\":");
          add_json_string(out, r.frames[i].name.c_str());
          add(out, ",\"offset\":%" PRIu64, r.frames[i].off);
        }
        add(out, "}");
      }
      add(out, "]");
    }
    add(out, "}");
    first = false;
  }
  add(out, "]}\n");
}

bool is_sync_wait(const char* what) {
  static const char* const kSync[] = {"mutex", "cond", "rwlock read", "rwlock write", "barrier",
                                      "sem",   "once", "join",        "futex"};
  if (!what) return false;
  for (const char* s : kSync)
    if (std::strcmp(s, what) == 0) return true;
  return false;
}

// Whether the process has OS threads that are neither carriers of the pool
// nor the runtime's own (gh-*): threads glibc starts by itself
// (timer_create with SIGEV_THREAD, mq_notify, AIO) or that a library started
// before the shim, which may wake a green thread at any time.
bool foreign_threads(Pool* p) {
  int dir = static_cast<int>(
      gh::sys(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return true;  // cannot tell: assume so
  bool found = false;
  char buf[4096];
  for (;;) {
    long n = gh::sys(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n && !found;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.') continue;
      pid_t tid = static_cast<pid_t>(std::strtol(d->d_name, nullptr, 10));
      bool carrier = false;
      for (int i = 0; i < p->slots() && !carrier; i++)
        carrier = p->slot(i) && p->slot(i)->os_tid() == tid;
      if (carrier) continue;
      char path[64], comm[32] = {};
      std::snprintf(path, sizeof path, "/proc/self/task/%d/comm", static_cast<int>(tid));
      int fd = static_cast<int>(gh::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
      if (fd < 0) continue;  // gone meanwhile
      long r = gh::sys(SYS_read, fd, comm, sizeof comm - 1);
      gh::sys(SYS_close, fd);
      if (r > 0 && std::strncmp(comm, "gh-", 3) != 0 && std::strncmp(comm, "iou-", 4) != 0)
        found = true;
    }
    if (found) break;
  }
  gh::sys(SYS_close, dir);
  return found;
}

// Every carrier asleep, with nothing that could wake a thread pending.
bool quiet(Pool* p, uint64_t* switches) {
  *switches = 0;
  for (int i = 0; i < p->slots(); i++) {
    Carrier* c = p->slot(i);
    if (!c) continue;
    *switches += c->stats().switches;
    if (!c->idle() || (c->backend() && c->backend()->inflight() != 0) || c->timers_armed() != 0 ||
        !c->run_queue().empty())
      return false;
  }
  return offload_busy() == 0 && !program_has_async_handlers() && !foreign_threads(p);
}

}  // namespace

void log_report(const std::string& report) {
  size_t start = 0;
  while (start < report.size()) {
    size_t end = report.find('\n', start);
    if (end == std::string::npos) end = report.size();
    std::string line = report.substr(start, end - start);
    if (line.compare(0, 12, "greenhouse: ") == 0) line.erase(0, 12);
    if (!line.empty()) log_error("%s", line.c_str());  // (the blank line before the table)
    start = end + 1;
  }
}

void deadlock_tick() {
  static uint64_t seen_switches = 0;
  static int still = 0;  // checks in a row that found it so, without a switch
  static bool reported = false;
  Pool* p = Pool::process();
  if (!p) return;
  uint64_t switches;
  bool stuck = quiet(p, &switches);
  if (stuck) {
    ReportOptions opt;
    int parked = 0;
    for (const Row& r : collect(p, opt)) {
      if (std::strcmp(r.state, "exited") == 0) continue;
      if (std::strcmp(r.state, "parked") != 0 || !is_sync_wait(r.wait.what)) {
        stuck = false;
        break;
      }
      parked++;
    }
    stuck = stuck && parked > 0;
  }
  if (!stuck || switches != seen_switches) {
    seen_switches = switches;
    still = stuck ? 1 : 0;
    reported = false;
    return;
  }
  if (++still < 2 || reported) return;
  reported = true;
  log_error(
      "deadlock: every green thread waits on a lock, condition variable, join or futex, and no "
      "running thread, I/O, timer or offload job can wake one; the program waits on, as natively:");
  ReportOptions opt;
  opt.stacks = true;
  std::string out;
  write_report(&out, opt);
  log_report(out);
}

namespace {

// The one backtrace the hog report may be waiting for: the control thread
// sets the target OS thread, that thread's handler fills the frames.
struct HogCapture {
  std::atomic<pid_t> tid{0};
  GreenThread* g = nullptr;  // the thread it should be running
  std::atomic<int> done{0};
  int n = 0;
  struct {
    uint64_t ip, off;
    char name[128];
  } frames[kMaxFrames];
};
HogCapture g_capture;

// Per carrier slot: the switch count and when it was first seen unchanged.
struct HogWatch {
  uint64_t ticks = ~uint64_t{0};
  int64_t since = 0;
  bool reported = false;
};
HogWatch g_watch[256];
int64_t g_last_report = 0;
int g_suppressed = 0;

// The thread's state letter in /proc (R running, S/D blocked, ...), and the
// system call it is in ("" if none or unknown).
char proc_state(pid_t tid, std::string* syscall_line) {
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  long fd = gh::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  char state = '?';
  if (fd >= 0) {
    long n = gh::sys(SYS_read, fd, buf, sizeof buf - 1);
    gh::sys(SYS_close, fd);
    if (n > 0) {
      buf[n] = '\0';
      const char* close_paren = std::strrchr(buf, ')');
      if (close_paren && close_paren[1] == ' ') state = close_paren[2];
    }
  }
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  fd = gh::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    long n = gh::sys(SYS_read, fd, buf, sizeof buf - 1);
    gh::sys(SYS_close, fd);
    if (n > 0) {
      buf[n] = '\0';
      char* nl = std::strchr(buf, '\n');
      if (nl) *nl = '\0';
      *syscall_line = buf;
    }
  }
  return state;
}

void report_hog(Pool* p, int slot, Carrier* c, GreenThread* g, int64_t held_ns) {
  char name[sizeof g->name + 1] = {};
  for (size_t i = 0; i < sizeof g->name && g->name[i]; i++) name[i] = g->name[i];
  long id = g->is_root() ? static_cast<long>(c->os_tid()) : static_cast<long>(green_tid(g->id));
  std::string sc;
  char state = proc_state(c->os_tid(), &sc);
  log_warn(
      "thread %s (id %ld) has kept carrier %d for %.1f s without a switch (its other threads move "
      "to other carriers after GREENHOUSE_HANDOFF_MS); it is %s",
      printable(name[0] ? name : program_invocation_short_name).c_str(), id, slot,
      static_cast<double>(held_ns) / 1e9,
      state == 'R' ? "computing, at:" : "blocked in a system call the shim does not park:");
  if (state != 'R') {
    // "nr arg... sp pc": the system call number first.
    long nr = std::strtol(sc.c_str(), nullptr, 10);
    log_warn("  system call %ld (/proc/self/task/%d/syscall: %s)", nr,
             static_cast<int>(c->os_tid()), sc.c_str());
    return;
  }
  // Only a thread running in user space is signalled: one that is in a
  // system call would see it fail with EINTR, which it never would natively.
  std::string now_sc;
  if (proc_state(c->os_tid(), &now_sc) != 'R' || now_sc.compare(0, 7, "running") != 0 ||
      c->running() != g) {
    log_warn("  (no backtrace: it was entering the kernel or had moved on when asked)");
    return;
  }
  if (!offload_interrupt_installed()) {
    log_warn("  (no backtrace: the runtime's signal %d is not its own here)",
             kOffloadInterruptSignal);
    return;
  }
  g_capture.done.store(0, std::memory_order_relaxed);
  g_capture.n = 0;
  g_capture.g = g;
  g_capture.tid.store(c->os_tid(), std::memory_order_release);
  gh::sys(SYS_tgkill, gh::sys(SYS_getpid), c->os_tid(), kOffloadInterruptSignal);
  for (int i = 0; i < 200 && !g_capture.done.load(std::memory_order_acquire); i++) {
    timespec ms{0, 1'000'000};
    gh::sys(SYS_nanosleep, &ms, nullptr);
  }
  g_capture.tid.store(0, std::memory_order_release);
  if (!g_capture.done.load(std::memory_order_acquire)) {
    log_warn("  (no backtrace: the thread blocks the runtime's signal %d)",
             kOffloadInterruptSignal);
    return;
  }
  if (g_capture.n == 0) {
    log_warn("  (no backtrace: it had moved on when asked)");
    return;
  }
  for (int i = 0; i < g_capture.n; i++) {
    const auto& f = g_capture.frames[i];
    if (f.name[0])
      log_warn("  #%d 0x%" PRIx64 " %s+0x%" PRIx64, i, f.ip, demangled(f.name).c_str(), f.off);
    else
      log_warn("  #%d 0x%" PRIx64, i, f.ip);
  }
  (void)p;
}

}  // namespace

void hog_capture_here(void* uc) {
  pid_t want = g_capture.tid.load(std::memory_order_acquire);
  if (want == 0 || want != static_cast<pid_t>(gh::sys(SYS_gettid))) return;
  if (g_capture.done.load(std::memory_order_acquire)) return;
  g_capture.n = 0;
  Carrier* c = Carrier::current();
  if (!c || c->signal_safe_running() != g_capture.g) {
    g_capture.done.store(1, std::memory_order_release);  // it moved on: no frames
    return;
  }
  walk_stack(
      uc, true, kMaxFrames,
      [](void*, uint64_t ip, const char* name, uint64_t off) {
        auto& f = g_capture.frames[g_capture.n++];
        f.ip = ip;
        f.off = off;
        size_t i = 0;
        for (; name && name[i] && i + 1 < sizeof f.name; i++) f.name[i] = name[i];
        f.name[i] = '\0';
      },
      nullptr);
  g_capture.done.store(1, std::memory_order_release);
}

void hog_tick(int64_t now_ns) {
  int64_t limit = int64_t{config().hog_ms} * 1'000'000;
  Pool* p = Pool::process();
  if (limit <= 0 || !p) return;
  int n = p->slots() < 256 ? p->slots() : 256;
  for (int i = 0; i < n; i++) {
    Carrier* c = p->slot(i);
    HogWatch& w = g_watch[i];
    if (!c) continue;
    uint64_t ticks = c->ticks();
    GreenThread* run = c->running();
    if (c->idle() || ticks != w.ticks || !run || run->internal) {
      w.ticks = ticks;
      w.since = now_ns;
      w.reported = false;
      continue;
    }
    if (w.reported || now_ns - w.since < limit) continue;
    w.reported = true;
    if (now_ns - g_last_report < 10 * kNsPerSec && g_last_report != 0) {
      g_suppressed++;
      continue;
    }
    if (g_suppressed > 0)
      log_warn("(%d more threads kept a carrier too long in the last 10 s)", g_suppressed);
    g_suppressed = 0;
    g_last_report = now_ns;
    report_hog(p, i, c, run, now_ns - w.since);
  }
}

void write_report(std::string* out, const ReportOptions& opt) {
  Pool* p = Pool::process();
  if (!p) {
    add(out,
        opt.json ? "{\"pid\":%d,\"carriers\":[],\"threads\":[]}\n"
                 : "greenhouse: pid %d: no green threads yet\n",
        static_cast<int>(getpid()));
    return;
  }
  g_rates_on = opt.rates;
  if (opt.rates) measure_rates(p);
  std::vector<Row> rows = collect(p, opt);
  if (opt.json)
    json(p, rows, opt, out);
  else
    text(p, rows, opt, out);
}

}  // namespace gh::shim
