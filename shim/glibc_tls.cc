// SPDX-License-Identifier: MIT
#include "shim/glibc_tls.h"
#include "core/sys.h"

#include <gnu/libc-version.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

#include <link.h>

#include "core/arch_x86_64.h"
#include "core/glibc_abi.h"
#include "core/spinlock.h"
#include "core/thread_pointer.h"
#include "core/tsa.h"
#include "shim/elf_symbols.h"

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
  uint64_t gen;       // the generation it came with
};
constexpr size_t kMaxModules = 256;
SpinLock g_mod_lock;
StaticModule g_mods[kMaxModules] GH_GUARDED_BY(g_mod_lock);
size_t g_nmods GH_GUARDED_BY(g_mod_lock) = 0;

// The thread that made each load, by generation % kLoadInfos. When it is a
// green thread, it returns from dlopen and may use (and write) the new
// TLS at once, uninitialised: a later refresh must not write over it.
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
// The loader's own threads never add to that list while green threads exist
// (a thread with a stack of its own is a green thread under the shim), so
// g_mod_lock orders every change to it; glibc's readers walk it forwards
// only, which an insertion published last and an unlinking both keep sound.
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

// Whether the TCB at tp is on one of the loader's thread lists: its
// neighbours point back at it (a green TCB's link points at itself).
bool on_glibc_list(void* tp) {
  ListLink* l = link_of(tp);
  return l->next != l && l->next->prev == l && l->prev->next == l;
}

void list_insert(void* tp) {
  ListLink* l = link_of(tp);
  ListLink* head = g.stack_user;
  l->next = head->next;
  l->prev = head;
  head->next->prev = l;
  __atomic_store_n(&head->next, l, __ATOMIC_RELEASE);
}

// Takes tp off the list if it is still on it (a fork child's lists were
// made anew by glibc), and leaves its link pointing at itself.
void list_remove(void* tp) {
  ListLink* l = link_of(tp);
  if (on_glibc_list(tp)) {
    l->next->prev = l->prev;
    __atomic_store_n(&l->prev->next, l->next, __ATOMIC_RELEASE);
  }
  l->next = l->prev = l;
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

struct ObserveArg {
  uint64_t gen;
};

int observe_one(dl_phdr_info* info, size_t, void* p) GH_NO_TSA {
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
                 static_cast<ObserveArg*>(p)->gen};
  for (size_t i = 0; i < g_nmods; i++) {
    StaticModule& k = g_mods[i];
    if (k.modid != m.modid) continue;
    if (k.offset != m.offset || k.image != m.image) k = m;  // the id was reused
    return 0;
  }
  if (g_nmods < kMaxModules) g_mods[g_nmods++] = m;
  return 0;
}

// Files the modules with static TLS not yet known under generation gen.
void observe_modules(uint64_t gen) GH_REQUIRES(g_mod_lock) {
  ObserveArg arg{gen};
  dl_iterate_phdr(&observe_one, &arg);
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
void init_tcb(char* tp, const char* creator) {
  memcpy(tp, creator, g.tcb_size);
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

void* create(void* creator_tp, void* lo, void** hi) {
  uintptr_t top = reinterpret_cast<uintptr_t>(*hi);
  uintptr_t tp = (top - g.tcb_size) & ~(g.static_align - 1);
  uintptr_t tls_lo = tp - (g.static_size - g.tcb_size);
  uintptr_t new_hi = tls_lo & ~uintptr_t{63};
  if (new_hi < reinterpret_cast<uintptr_t>(lo) + glibc::kMinStackLeft) return nullptr;
  // The static TLS of every module is copied in by the loader; the rest
  // (surplus for modules loaded later) starts zeroed.
  memset(reinterpret_cast<void*>(tls_lo), 0, tp - tls_lo);
  init_tcb(reinterpret_cast<char*>(tp), static_cast<const char*>(creator_tp));
  if (!g.allocate_tls(reinterpret_cast<void*>(tp))) return nullptr;  // DTV: calloc failed
  *hi = reinterpret_cast<void*>(new_hi);
  return reinterpret_cast<void*>(tp);
}

void destroy(void* tp) {
  if (g.stack_user) {
    SpinGuard guard(g_mod_lock);
    unlist(tp);
  }
  g.deallocate_tls(tp, false);
}

void refresh(void* tp, uint64_t since) {
  SpinGuard guard(g_mod_lock);
  observe_modules(tls_generation());
  uint64_t until = ~uint64_t{0};  // the loader initialised from this one on
  if (g.stack_user) {
    if (uint64_t listed = unlist(tp)) {
      until = listed;
    } else if (on_glibc_list(tp)) {
      return;  // main's block: glibc keeps it up to date itself
    }
  }
  for (size_t i = 0; i < g_nmods; i++) {
    const StaticModule& m = g_mods[i];
    if (m.gen <= since || m.gen >= until) continue;
    if (tp == g_load_caller[m.gen % kLoadInfos]) continue;
    char* dest = static_cast<char*>(tp) - m.offset;
    memcpy(dest, m.image, m.filesz);
    memset(dest + m.filesz, 0, m.memsz - m.filesz);
  }
}

constexpr ThreadPointerOps kOps = {&create, &destroy, &refresh};

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
  size_t tid_off = 0;
  if (!size || !db_offset("_thread_db_pthread_specific", &g.specific_off) ||
      !db_offset("_thread_db_pthread_tid", &tid_off))
    return fail("glibc's thread_db descriptors are missing");
  g.tcb_size = *size;
  g.get_tls_static_info(&g.static_size, &g.static_align);
  if (g.static_align == 0 || (g.static_align & (g.static_align - 1)) || g.static_size <= g.tcb_size)
    return fail("unexpected static TLS layout");
  g.debug = static_cast<r_debug*>(find("_r_debug", nullptr));
  if (!g.debug || !db_offset("_thread_db_link_map_l_tls_offset", &g.lm_tls_offset) ||
      !db_offset("_thread_db_link_map_l_tls_modid", &g.lm_tls_modid))
    return fail("the loader's object list is not readable");
  // Optional: the loader's user-stack thread list (see "the dlopen caller").
  size_t stack_user_off = 0, next_off = 1, prev_off = 1;
  auto* rtld_global = static_cast<char*>(find("_rtld_global", "GLIBC_PRIVATE"));
  if (rtld_global && db_offset("_thread_db_rtld_global__dl_stack_user", &stack_user_off) &&
      db_offset("_thread_db_pthread_list", &g.list_off) &&
      db_offset("_thread_db_list_t_next", &next_off) &&
      db_offset("_thread_db_list_t_prev", &prev_off) && next_off == 0 &&
      prev_off == sizeof(void*) && g.list_off + sizeof(ListLink) <= g.tcb_size) {
    g.stack_user = reinterpret_cast<ListLink*>(rtld_global + stack_user_off);
  } else {
    g.list_off = 0;
  }
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
      *reinterpret_cast<int*>(tp + tid_off) != static_cast<int>(gh::sys(SYS_gettid)))
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
  observe_modules(tls_generation());
  void* tp = arch::thread_pointer();
  g_load_caller[(tls_generation() + 1) % kLoadInfos] = tp;
  bump_tls_generation();
  // A green caller goes on the loader's list for the load (once: a load
  // from a constructor of this one finds it there).
  if (g.stack_user && !on_glibc_list(tp) && g_nlisted < kMaxListed) {
    list_insert(tp);
    g_listed[g_nlisted++] = Listed{tp, tls_generation()};
  }
}

void glibc_tls_thread_start() {
  if (g.ctype_init) g.ctype_init();
}

void glibc_tls_thread_exit() {
  if (g.call_tls_dtors) g.call_tls_dtors();
}

}  // namespace gh::shim
