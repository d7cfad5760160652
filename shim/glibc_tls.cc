// SPDX-License-Identifier: MIT
#include "shim/glibc_tls.h"

#include "core/carrier.h"
#include "core/sys.h"

#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include <link.h>

#include "core/arch_x86_64.h"
#include "core/glibc_abi.h"
#include "core/log.h"
#include "core/spinlock.h"
#include "core/thread_pointer.h"
#include "core/tsa.h"
#include "shim/elf_symbols.h"
#include "shim/thread_registry.h"

namespace gh::shim {

namespace {

// What the backend takes from glibc. The functions are the dynamic
// loader's (GLIBC_PRIVATE, the ones glibc's pthread_create uses); the
// sizes and offsets come from the descriptors glibc exports for
// libthread_db (gdb's thread support), so they are the running glibc's own.
// glibc's list_t: a circular doubly linked list.
struct ListLink {
  ListLink* next;
  ListLink* prev;
};

struct Glibc {
  void* (*allocate_tls)(void* tcb);                     // _dl_allocate_tls
  void (*deallocate_tls)(void* tcb, bool dealloc_tcb);  // _dl_deallocate_tls
  void (*get_tls_static_info)(size_t* size, size_t* align);
  void (*call_tls_dtors)();  // __call_tls_dtors
  void (*ctype_init)();      // __ctype_init
  size_t static_size;        // static TLS + TCB, per thread
  size_t static_align;
  size_t tcb_size;       // sizeof(struct pthread)
  size_t specific_off;   // struct pthread: specific[] (2nd-level TSD pointers)
  size_t tid_off;        // struct pthread: tid
  long rseq_off;         // the rseq area from the thread pointer, or 0
  bool rseq;             // glibc registered rseq (cpu_id in the TCB)
  size_t lm_tls_offset;  // struct link_map: l_tls_offset
  size_t lm_tls_modid;   // struct link_map: l_tls_modid
  r_debug* debug;        // _r_debug: the loaded objects
  // The loader's list of threads with stacks of their own (GL(dl_stack_user),
  // main's among them) and struct pthread's link in it; nullptr / 0 when
  // this glibc does not describe them (a dlopen caller then keeps the gap
  // described at glibc_tls_before_load).
  ListLink* stack_user;
  int* stack_lock;  // GL(dl_stack_cache_lock), glibc's lock of its thread lists
  size_t list_off;
};
Glibc g;

// ---- static TLS of libraries loaded while green threads exist ----
//
// glibc initialises a dlopen'ed library's static (initial-exec) TLS in the
// threads on its own lists, which green threads are not in. So the shim
// records each module with static TLS and the TLS generation it came with
// (core/thread_pointer.h); a green thread whose block is older gets the
// module's TLS image copied in before it runs again (refresh). The
// generation is bumped before every dlopen (hook_dlopen.cc), after a scan
// that files the modules already loaded under the generation they came in.

struct StaticModule {
  size_t modid;
  uintptr_t offset;   // the block is at tp - offset
  const void* image;  // the TLS initialisation image
  size_t filesz;      // bytes of image
  size_t memsz;       // bytes of block (the rest is zero)
  // The generation a refresh copies it for: one above the generation
  // current when a scan first found it, bumped to then (the first scan's,
  // of the modules loaded at start-up, which every block has: that one).
  // Not the current one itself: a thread switched to while the module was
  // being loaded (the generation already bumped by the load's dlopen, the
  // module not yet listed with its offset) has its block up to date with
  // that one, and would never get the image (glibc's list of the threads it
  // initialises does not have it either). 1 in 40 runs of 8 threads loading
  // one library at once saw its initial values as zeros in one thread.
  uint64_t gen;
  uint64_t loaded_in;  // the generation current then: its dlopen's (g_load_caller)
  uint64_t scan;       // the last scan that found it loaded
};
// create(): the page size of x86-64, and the smallest stack that gives up
// to a page of its top to put the TCB's first line at a page's end (a
// smaller one keeps all its room, as glibc leaves it).
constexpr uintptr_t kPage = 4096;
constexpr uintptr_t kPageAlignMinStack = 256 * 1024;

constexpr size_t kMaxModules = 256;
SpinLock g_mod_lock;
StaticModule g_mods[kMaxModules] GH_GUARDED_BY(g_mod_lock);
size_t g_nmods GH_GUARDED_BY(g_mod_lock) = 0;
uint64_t g_scans GH_GUARDED_BY(g_mod_lock) = 0;
bool g_loaded GH_GUARDED_BY(g_mod_lock) = false;  // a dlopen has been made

// The thread that made each load, by generation % kLoadInfos. When it is a
// green thread, it returns from dlopen and may use (and write) the new
// TLS at once: a later refresh must not write over it.
constexpr size_t kLoadInfos = 64;
void* g_load_caller[kLoadInfos] GH_GUARDED_BY(g_mod_lock);

// ---- the dlopen caller ----
//
// glibc initialises a new module's static TLS, before the module's
// constructors run, in every thread on its lists (_dl_init_static_tls). A
// green thread that calls dlopen is put on GL(dl_stack_user) for the load, so
// that its block is initialised at that very moment, as an OS thread's would
// be (shim/hook_dlopen.cc cannot run code after the real dlopen, so it leaves
// the list at its next switch-in, in refresh, or when its block is freed).
// Every change to the list is made under glibc's own lock of its thread
// lists (GL(dl_stack_cache_lock)), which its readers hold too.
struct Listed {
  void* tp;
  uint64_t gen;  // the generation of the load that listed it
};
constexpr size_t kMaxListed = 64;
Listed g_listed[kMaxListed] GH_GUARDED_BY(g_mod_lock);
size_t g_nlisted GH_GUARDED_BY(g_mod_lock) = 0;

ListLink* link_of(void* tp) {
  return reinterpret_cast<ListLink*>(static_cast<char*>(tp) + g.list_off);
}

// Whether tp's link has been put on a list at all (a green TCB's link
// points at itself until then).
bool linked(void* tp) { return g.stack_user && link_of(tp)->next != link_of(tp); }

// Whether the TCB at tp is on one of the loader's thread lists: its
// neighbours point back at it.
bool on_glibc_list(void* tp) {
  ListLink* l = link_of(tp);
  return l->next != l && l->next->prev == l && l->prev->next == l;
}

// glibc's low-level lock protocol (lll_lock, private): 0 free, 1 held,
// 2 held with waiters. Held only for a few pointer updates.
void stack_lists_lock() {
  int free = 0;
  if (__atomic_compare_exchange_n(g.stack_lock, &free, 1, false, __ATOMIC_ACQUIRE,
                                  __ATOMIC_RELAXED))
    return;
  while (__atomic_exchange_n(g.stack_lock, 2, __ATOMIC_ACQUIRE) != 0)
    gh::sys(SYS_futex, g.stack_lock, FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
}

void stack_lists_unlock() {
  if (__atomic_exchange_n(g.stack_lock, 0, __ATOMIC_RELEASE) > 1)
    gh::sys(SYS_futex, g.stack_lock, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void list_insert(void* tp) {
  ListLink* l = link_of(tp);
  ListLink* head = g.stack_user;
  stack_lists_lock();
  l->next = head->next;
  l->prev = head;
  head->next->prev = l;
  head->next = l;
  stack_lists_unlock();
}

// Takes tp off the list if it is still on it (a fork child's lists were
// made anew by glibc), and leaves its link pointing at itself.
void list_remove(void* tp) {
  ListLink* l = link_of(tp);
  stack_lists_lock();
  if (on_glibc_list(tp)) {
    l->next->prev = l->prev;
    l->prev->next = l->next;
  }
  l->next = l->prev = l;
  stack_lists_unlock();
}

// If tp was listed for a load, unlists it and returns the generation of
// that load (glibc initialised the modules of it and of later loads in tp's
// block); otherwise returns 0.
uint64_t unlist(void* tp) GH_REQUIRES(g_mod_lock) {
  for (size_t i = 0; i < g_nlisted; i++) {
    if (g_listed[i].tp != tp) continue;
    uint64_t gen = g_listed[i].gen;
    list_remove(tp);
    g_listed[i] = g_listed[--g_nlisted];
    return gen;
  }
  return 0;
}

// glibc's l_tls_offset values that mean "no static TLS".
constexpr size_t kNoTlsOffset = 0;
constexpr size_t kForcedDynamicTlsOffset = ~size_t{0};

size_t link_map_field(const link_map* l, size_t off) {
  return *reinterpret_cast<const size_t*>(reinterpret_cast<const char*>(l) + off);
}

// One scan of the loaded modules (dl_iterate_phdr, which holds the loader's
// list lock: a module it reports is not unmapped meanwhile).
struct Scan {
  uint64_t now;       // the generation now
  uint64_t file_gen;  // what a module not known yet is filed under
  uint64_t id;        // this scan's number
  bool found_new;
  // The block to bring up to date, or nullptr: it gets the image of each
  // module of a generation in (since, until) not loaded by itself (a fresh
  // block, which has not run: whoever loaded it).
  void* tp;
  bool fresh;
  uint64_t since;
  uint64_t until;
};

int scan_one(dl_phdr_info* info, size_t, void* p) GH_NO_TSA {
  auto* scan = static_cast<Scan*>(p);
  if (info->dlpi_tls_modid == 0) return 0;
  const ElfW(Phdr)* tls = nullptr;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_TLS) tls = &info->dlpi_phdr[i];
  if (!tls) return 0;
  size_t offset = kNoTlsOffset;
  for (link_map* l = g.debug->r_map; l; l = l->l_next)
    if (link_map_field(l, g.lm_tls_modid) == info->dlpi_tls_modid)
      offset = link_map_field(l, g.lm_tls_offset);
  if (offset == kNoTlsOffset || offset == kForcedDynamicTlsOffset || offset > g.static_size)
    return 0;
  StaticModule m{info->dlpi_tls_modid,
                 offset,
                 reinterpret_cast<const void*>(info->dlpi_addr + tls->p_vaddr),
                 tls->p_filesz,
                 tls->p_memsz,
                 scan->file_gen,
                 scan->now,
                 scan->id};
  StaticModule* k = nullptr;
  for (size_t i = 0; i < g_nmods && !k; i++)
    if (g_mods[i].modid == m.modid) k = &g_mods[i];
  if (k && (k->offset != m.offset || k->image != m.image))
    *k = m, scan->found_new = true;  // the id was reused
  if (!k && g_nmods < kMaxModules) k = &g_mods[g_nmods++], *k = m, scan->found_new = true;
  if (!k) return 0;
  k->scan = scan->id;
  if (scan->tp && k->gen > scan->since && k->gen < scan->until &&
      (scan->fresh || scan->tp != g_load_caller[k->loaded_in % kLoadInfos])) {
    char* dest = static_cast<char*>(scan->tp) - k->offset;
    memcpy(dest, k->image, k->filesz);
    memset(dest + k->filesz, 0, k->memsz - k->filesz);
  }
  return 0;
}

// Files the modules with static TLS not yet known under the next
// generation, and bumps it to that; forgets those no longer loaded; and
// brings tp's block up to date (see Scan) if tp is not nullptr. Returns the
// generation now.
uint64_t scan_modules(void* tp, uint64_t since, uint64_t until, bool fresh = false)
    GH_REQUIRES(g_mod_lock) {
  bool first = g_scans == 0;  // start-up's modules: under the generation now
  uint64_t now = tls_generation();
  Scan scan{now, first ? now : now + 1, ++g_scans, false, tp, fresh, since, until};
  dl_iterate_phdr(&scan_one, &scan);
  for (size_t i = 0; i < g_nmods;) {
    if (g_mods[i].scan != scan.id) {
      g_mods[i] = g_mods[--g_nmods];
    } else {
      i++;
    }
  }
  if (scan.found_new && !first) {
    // No dlopen of this generation: its modules were loaded by none that
    // a refresh must leave alone (the slot may name a load 64 back).
    g_load_caller[(now + 1) % kLoadInfos] = nullptr;
    bump_tls_generation();
  }
  return tls_generation();
}

int g_anchor;  // an address in this library: lookups start after it

void* find(const char* name, const char* version) {
  SymbolFound f = find_next_symbol(&g_anchor, SymbolQuery{name, version});
  return f.version_found ? f.addr : nullptr;
}

// A libthread_db field descriptor: {size in bits, count, offset}.
bool db_offset(const char* name, size_t* off) {
  auto* d = static_cast<const uint32_t*>(find(name, "GLIBC_PRIVATE"));
  if (!d) return false;
  *off = d[2];
  return true;
}

// Fills a new TCB at tp from the creator's. Everything glibc keeps per
// thread and the program's thread cannot share: self pointers, the DTV
// (installed by the loader), the first-level TSD block, the rseq cpu id.
void init_tcb(char* tp, const char* creator, uint64_t id) {
  memcpy(tp, creator, g.tcb_size);
  // Its own thread id, the one gettid() gives it (thread_registry.h): glibc
  // knows the owner of its recursive locks (the loader's dl_load_lock, ...)
  // by the TCB's tid, and a copy of the creator's would let two threads
  // hold one at once. glibc signals itself with the kernel's gettid(), not
  // with this field; the shim maps signals to green ids.
  *reinterpret_cast<pid_t*>(tp + g.tid_off) = green_tid(id);
  auto* words = reinterpret_cast<void**>(tp);
  words[glibc::kTcbSelfSlot] = tp;  // tcbhead_t.tcb
  words[glibc::kTcbDtvSlot] = nullptr;
  words[glibc::kTcbSelfPtrSlot] = tp;  // tcbhead_t.self
  *reinterpret_cast<int*>(tp + glibc::kTcbGscopeFlag) = 0;
  // Not on the loader's thread lists (the creator's link was copied).
  if (g.list_off) {
    ListLink* l = link_of(tp);
    l->next = l->prev = l;
  }
  // The process has several threads now, as glibc's pthread_create records
  // in the new and the creating thread (the creator's could still say 0: a
  // TCB copied before, or main before its first thread). Left at 0, malloc
  // would skip its arena locks in this thread while an OS thread (the
  // offload pool) allocates too.
  *reinterpret_cast<int*>(tp + glibc::kTcbMultipleThreads) = 1;
  *reinterpret_cast<int*>(const_cast<char*>(creator) + glibc::kTcbMultipleThreads) = 1;
  // TSD: specific[0] points at the thread's own first-level block, just
  // before it; nothing else is allocated yet.
  auto** specific = reinterpret_cast<void**>(tp + g.specific_off);
  char* first_block = tp + g.specific_off - glibc::kTsdFirstBlockBytes;
  memset(first_block, 0, glibc::kTsdFirstBlockBytes);
  memset(specific, 0, glibc::kTsdLevel1Slots * sizeof(void*));
  specific[0] = first_block;
  // The kernel updates only the OS thread's rseq area: sched_getcpu() on a
  // green thread must ask the kernel (a negative cpu_id makes it do so).
  if (g.rseq) *reinterpret_cast<int32_t*>(tp + g.rseq_off + glibc::kRseqCpuId) = -1;
}

void* create(void* creator_tp, void* lo, void** hi, uint64_t id, uint64_t* gen) {
  uintptr_t top = reinterpret_cast<uintptr_t>(*hi);
  uintptr_t tp = (top - g.tcb_size) & ~(g.static_align - 1);
  if (g.static_align <= 64 && top - reinterpret_cast<uintptr_t>(lo) >= kPageAlignMinStack) {
    // The TCB's first line (self pointer, stack guard) last in a page, so
    // that this line, the TLS below it and the top frames of the stack
    // share one page: switching to a thread that is not in the TLB then
    // costs one page walk, not two (docs/design.md, "The thread pointer").
    uintptr_t at_page_end = ((tp + 64) & ~(kPage - 1)) - 64;
    tp = at_page_end;
  }
  uintptr_t tls_lo = tp - (g.static_size - g.tcb_size);
  uintptr_t new_hi = tls_lo & ~uintptr_t{63};
  if (new_hi < reinterpret_cast<uintptr_t>(lo) + glibc::kMinStackLeft) return nullptr;
  // The static TLS of every module is copied in by the loader; the rest
  // (surplus for modules loaded later) starts zeroed.
  memset(reinterpret_cast<void*>(tls_lo), 0, tp - tls_lo);
  init_tcb(reinterpret_cast<char*>(tp), static_cast<const char*>(creator_tp), id);
  if (!g.allocate_tls(reinterpret_cast<void*>(tp))) return nullptr;  // DTV: calloc failed
  // The loader copied in the modules it lists as loaded. A module a dlopen
  // is loading may have its offset already and not yet be listed; one it has
  // loaded may be filed only by a later scan, above the generation now.
  // So once a library has been loaded, every module loaded since start-up
  // is filed and copied in now, while the thread has not run, and the block
  // is up to date with the generation that scan reached.
  SpinGuard guard(g_mod_lock);
  *gen = g_loaded ? scan_modules(reinterpret_cast<void*>(tp), 0, ~uint64_t{0}, true)
                  : tls_generation();
  *hi = reinterpret_cast<void*>(new_hi);
  return reinterpret_cast<void*>(tp);
}

void destroy(void* tp) {
  if (linked(tp)) {
    // Listed for a load, or (in a fork child) put on a list by glibc.
    SpinGuard guard(g_mod_lock);
    if (!unlist(tp)) list_remove(tp);
  }
  g.deallocate_tls(tp, false);
}

uint64_t refresh(void* tp, uint64_t since) {
  SpinGuard guard(g_mod_lock);
  uint64_t until = ~uint64_t{0};  // the loader initialised from this one on
  if (linked(tp)) {
    if (uint64_t listed = unlist(tp)) {
      until = listed;
    } else if (on_glibc_list(tp)) {
      return tls_generation();  // main's block: glibc keeps it up to date itself
    }
  }
  return scan_modules(tp, since, until);
}

size_t block_bytes() { return g.static_size + g.static_align + kPage + 64; }

constexpr ThreadPointerOps kOps = {&create, &destroy, &refresh, &block_bytes};

}  // namespace

bool glibc_tls_init(char* why, unsigned long why_len) {
  auto fail = [&](const char* what) {
    snprintf(why, why_len, "%s (glibc %s)", what, gnu_get_libc_version());
    return false;
  };
  int major = 0, minor = 0;
  if (sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2 || major != 2 || minor < 34)
    return fail("glibc before 2.34 is not supported");
  g.allocate_tls = reinterpret_cast<void* (*)(void*)>(find("_dl_allocate_tls", "GLIBC_PRIVATE"));
  g.deallocate_tls =
      reinterpret_cast<void (*)(void*, bool)>(find("_dl_deallocate_tls", "GLIBC_PRIVATE"));
  g.get_tls_static_info = reinterpret_cast<void (*)(size_t*, size_t*)>(
      find("_dl_get_tls_static_info", "GLIBC_PRIVATE"));
  g.call_tls_dtors = reinterpret_cast<void (*)()>(find("__call_tls_dtors", nullptr));
  g.ctype_init = reinterpret_cast<void (*)()>(find("__ctype_init", "GLIBC_PRIVATE"));
  if (!g.allocate_tls || !g.deallocate_tls || !g.get_tls_static_info || !g.call_tls_dtors ||
      !g.ctype_init)
    return fail("the dynamic loader's TLS allocator is not exported");
  auto* size = static_cast<const uint32_t*>(find("_thread_db_sizeof_pthread", "GLIBC_PRIVATE"));
  if (!size || !db_offset("_thread_db_pthread_specific", &g.specific_off) ||
      !db_offset("_thread_db_pthread_tid", &g.tid_off))
    return fail("glibc's thread_db descriptors are missing");
  g.tcb_size = *size;
  g.get_tls_static_info(&g.static_size, &g.static_align);
  if (g.static_align == 0 || (g.static_align & (g.static_align - 1)) || g.static_size <= g.tcb_size)
    return fail("unexpected static TLS layout");
  g.debug = static_cast<r_debug*>(find("_r_debug", nullptr));
  if (!g.debug || !db_offset("_thread_db_link_map_l_tls_offset", &g.lm_tls_offset) ||
      !db_offset("_thread_db_link_map_l_tls_modid", &g.lm_tls_modid))
    return fail("the loader's object list is not readable");
  // Optional: the loader's thread lists and their lock (see "the dlopen
  // caller"). struct rtld_global (glibc 2.34 and later) has, in this order:
  // list_t _dl_stack_used, _dl_stack_user, _dl_stack_cache; size_t
  // _dl_stack_cache_actsize; uintptr_t _dl_in_flight_stack; int
  // _dl_stack_cache_lock. The descriptors give the first two; the rest is
  // checked below.
  size_t used_off = 0, user_off = 0, next_off = 1, prev_off = 1;
  auto* rtld_global = static_cast<char*>(find("_rtld_global", "GLIBC_PRIVATE"));
  if (rtld_global && db_offset("_thread_db_rtld_global__dl_stack_used", &used_off) &&
      db_offset("_thread_db_rtld_global__dl_stack_user", &user_off) &&
      db_offset("_thread_db_pthread_list", &g.list_off) &&
      db_offset("_thread_db_list_t_next", &next_off) &&
      db_offset("_thread_db_list_t_prev", &prev_off) && next_off == 0 &&
      prev_off == sizeof(void*) && used_off + sizeof(ListLink) == user_off &&
      g.list_off + sizeof(ListLink) <= g.tcb_size) {
    auto* cache = reinterpret_cast<ListLink*>(rtld_global + user_off + sizeof(ListLink));
    int* lock = reinterpret_cast<int*>(rtld_global + user_off + 2 * sizeof(ListLink) +
                                       sizeof(size_t) + sizeof(uintptr_t));
    if (cache->next->prev == cache && cache->prev->next == cache && *lock >= 0 && *lock <= 2) {
      g.stack_user = reinterpret_cast<ListLink*>(rtld_global + user_off);
      g.stack_lock = lock;
    }
  }
  if (!g.stack_user) g.list_off = 0;
  auto* rseq_size = static_cast<const unsigned*>(find("__rseq_size", nullptr));
  auto* rseq_off = static_cast<const long*>(find("__rseq_offset", nullptr));
  g.rseq = rseq_size && rseq_off && *rseq_size > 0;
  if (g.rseq) g.rseq_off = *rseq_off;
  // The layout assumptions, checked on the calling thread's own TCB.
  auto* tp = static_cast<char*>(arch::thread_pointer());
  auto* words = reinterpret_cast<void**>(tp);
  auto** specific = reinterpret_cast<void**>(tp + g.specific_off);
  if (words[glibc::kTcbSelfSlot] != tp || words[glibc::kTcbSelfPtrSlot] != tp ||
      specific[0] != tp + g.specific_off - glibc::kTsdFirstBlockBytes ||
      *reinterpret_cast<int*>(tp + g.tid_off) != static_cast<int>(gh::sys(SYS_gettid)))
    return fail("glibc's thread control block is not laid out as expected");
  // This thread is on the loader's lists; otherwise they are not what the
  // descriptors say, and the dlopen caller is left to refresh().
  if (g.stack_user && !on_glibc_list(tp)) {
    g.stack_user = nullptr;
    g.list_off = 0;
  }
  return true;
}

void glibc_tls_enable() { set_thread_pointer_ops(&kOps); }

void glibc_tls_before_load() {
  if (!exact_tls()) return;
  SpinGuard guard(g_mod_lock);
  void* tp = arch::thread_pointer();
  // A green caller goes on the loader's list for the load, before the scan:
  // a module another thread's load initialises from now on is initialised
  // in its block too, and one initialised before is in the scan. Once: a
  // load from a constructor of this one finds it there.
  bool was_linked = linked(tp);
  bool list = g.stack_user && !was_linked;
  if (list && g_nlisted == kMaxListed) {
    list = false;
    log_debug("static TLS: %zu dlopen callers wait for their next switch; this one is not listed",
              kMaxListed);
  }
  if (list) list_insert(tp);
  g_loaded = true;
  // The caller's own block gets now what its switch-in would give it: the
  // modules another thread loaded since then, which glibc initialised only
  // in the threads listed at the time. The caller goes from this dlopen
  // straight back into the program, and a library another thread loaded a
  // moment ago finds this dlopen with nothing left to load (it failed
  // about once in 40 runs of 8 threads loading one library at once).
  // Modules of loads it was listed for (from `until` on) glibc initialised
  // for it; main's block (on glibc's own list) glibc keeps current.
  Carrier* c = Carrier::current();
  GreenThread* self = c ? c->running() : nullptr;
  uint64_t until = ~uint64_t{0};
  bool own_block = self && self->tp == tp;
  if (own_block && was_linked) {
    own_block = false;
    for (size_t i = 0; i < g_nlisted; i++)
      if (g_listed[i].tp == tp) own_block = true, until = g_listed[i].gen;
  }
  if (own_block)
    self->tls_gen = scan_modules(tp, self->tls_gen, until);
  else
    scan_modules(nullptr, 0, 0);
  g_load_caller[(tls_generation() + 1) % kLoadInfos] = tp;
  bump_tls_generation();
  if (list) g_listed[g_nlisted++] = Listed{tp, tls_generation()};
}

void glibc_tls_thread_start() {
  if (g.ctype_init) g.ctype_init();
}

void glibc_tls_thread_exit() {
  if (g.call_tls_dtors) g.call_tls_dtors();
}

}  // namespace gh::shim
