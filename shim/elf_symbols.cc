// SPDX-License-Identifier: MIT
#include "shim/elf_symbols.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>

#include <cstdint>
#include <cstring>

namespace gh::shim {

namespace {

constexpr ElfW(Half) kVersymHidden = 0x8000;
constexpr ElfW(Half) kVersymIndex = 0x7fff;

// The parts of one object's dynamic section that a lookup needs.
struct Object {
  uintptr_t base = 0;
  const ElfW(Sym) * symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* gnu_hash = nullptr;
  const uint32_t* sysv_hash = nullptr;
  const ElfW(Half) * versym = nullptr;
  const ElfW(Verdef) * verdef = nullptr;
};

// The loader relocates the address entries of a writable dynamic section in
// place; those of a read-only one (the vDSO's) stay object-relative.
template <class T>
const T* at(uintptr_t base, ElfW(Addr) v) {
  return reinterpret_cast<const T*>(v < base ? v + base : v);
}

bool read_dynamic(const dl_phdr_info* info, Object* o) {
  o->base = info->dlpi_addr;
  const ElfW(Dyn)* dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (!dyn) return false;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    ElfW(Addr) v = dyn->d_un.d_ptr;
    switch (dyn->d_tag) {
      case DT_SYMTAB:
        o->symtab = at<ElfW(Sym)>(o->base, v);
        break;
      case DT_STRTAB:
        o->strtab = at<char>(o->base, v);
        break;
      case DT_GNU_HASH:
        o->gnu_hash = at<uint32_t>(o->base, v);
        break;
      case DT_HASH:
        o->sysv_hash = at<uint32_t>(o->base, v);
        break;
      case DT_VERSYM:
        o->versym = at<ElfW(Half)>(o->base, v);
        break;
      case DT_VERDEF:
        o->verdef = at<ElfW(Verdef)>(o->base, v);
        break;
      default:
        break;
    }
  }
  return o->symtab && o->strtab && (o->gnu_hash || o->sysv_hash);
}

bool contains(const dl_phdr_info* info, uintptr_t addr) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + p.p_vaddr;
    if (p.p_type == PT_LOAD && addr >= lo && addr < lo + p.p_memsz) return true;
  }
  return false;
}

// The name of version index `ndx` in o's version definitions, or nullptr.
const char* version_name(const Object& o, ElfW(Half) ndx) {
  const ElfW(Verdef)* d = o.verdef;
  while (d) {
    if (d->vd_ndx == ndx) {
      auto* aux =
          reinterpret_cast<const ElfW(Verdaux)*>(reinterpret_cast<const char*>(d) + d->vd_aux);
      return o.strtab + aux->vda_name;
    }
    if (!d->vd_next) break;
    d = reinterpret_cast<const ElfW(Verdef)*>(reinterpret_cast<const char*>(d) + d->vd_next);
  }
  return nullptr;
}

bool defined(const ElfW(Sym) & s) {
  unsigned type = ELF64_ST_TYPE(s.st_info);
  unsigned bind = ELF64_ST_BIND(s.st_info);
  return s.st_shndx != SHN_UNDEF && s.st_value != 0 && (bind == STB_GLOBAL || bind == STB_WEAK) &&
         (type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_OBJECT || type == STT_NOTYPE);
}

// Whether symbol i is the one asked for. With a version: that version. Without:
// the default version (not hidden), or an unversioned definition.
bool matches(const Object& o, uint32_t i, const SymbolQuery& q) {
  const ElfW(Sym)& s = o.symtab[i];
  if (!defined(s) || strcmp(o.strtab + s.st_name, q.name) != 0) return false;
  ElfW(Half) vs = o.versym ? o.versym[i] : 1;
  if (!q.version) return !(vs & kVersymHidden);
  const char* v = version_name(o, vs & kVersymIndex);
  return v && strcmp(v, q.version) == 0;
}

// The index of the matching symbol in o, or 0 (index 0 is never a symbol).
uint32_t lookup_gnu(const Object& o, const SymbolQuery& q) {
  uint32_t h = 5381;
  for (const char* c = q.name; *c; c++) h = h * 33 + static_cast<unsigned char>(*c);
  const uint32_t* t = o.gnu_hash;
  uint32_t nbuckets = t[0], symoffset = t[1], bloom_size = t[2];
  if (nbuckets == 0) return 0;
  auto* buckets = t + 4 + bloom_size * (sizeof(ElfW(Addr)) / 4);
  const uint32_t* chain = buckets + nbuckets;
  uint32_t i = buckets[h % nbuckets];
  if (i < symoffset) return 0;
  for (;; i++) {
    uint32_t h2 = chain[i - symoffset];
    if ((h | 1) == (h2 | 1) && matches(o, i, q)) return i;
    if (h2 & 1) return 0;
  }
}

uint32_t lookup_sysv(const Object& o, const SymbolQuery& q) {
  uint32_t h = 0;
  for (const char* c = q.name; *c; c++) {
    h = (h << 4) + static_cast<unsigned char>(*c);
    uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  const uint32_t* t = o.sysv_hash;
  uint32_t nbucket = t[0];
  const uint32_t* bucket = t + 2;
  const uint32_t* chain = bucket + nbucket;
  for (uint32_t i = bucket[h % nbucket]; i != STN_UNDEF; i = chain[i])
    if (matches(o, i, q)) return i;
  return 0;
}

struct Search {
  uintptr_t after;
  SymbolQuery q;
  bool passed = false;  // the object containing `after` has been seen
  const ElfW(Sym) * sym = nullptr;
  uintptr_t base = 0;
};

int visit(dl_phdr_info* info, size_t, void* arg) {
  auto* s = static_cast<Search*>(arg);
  if (!s->passed) {
    s->passed = contains(info, s->after);
    return 0;
  }
  // The vDSO is on the list too (it exports clock_gettime, ...), but the
  // loader never binds a program's references to it: neither do we.
  const uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
  if (vdso && contains(info, vdso)) return 0;
  Object o;
  if (!read_dynamic(info, &o)) return 0;
  uint32_t i = o.gnu_hash ? lookup_gnu(o, s->q) : lookup_sysv(o, s->q);
  if (!i) return 0;
  s->sym = &o.symtab[i];
  s->base = o.base;
  return 1;
}

void* search(const void* after, SymbolQuery q) {
  Search s{reinterpret_cast<uintptr_t>(after), q};
  dl_iterate_phdr(&visit, &s);
  if (!s.sym) return nullptr;
  void* addr = reinterpret_cast<void*>(s.base + s.sym->st_value);
  if (ELF64_ST_TYPE(s.sym->st_info) == STT_GNU_IFUNC) {
    // x86-64 resolvers take the hardware capabilities (and ignore them).
    auto resolver = reinterpret_cast<void* (*)(unsigned long)>(addr);
    addr = resolver(getauxval(AT_HWCAP));
  }
  return addr;
}

}  // namespace

SymbolFound find_next_symbol(const void* after, SymbolQuery q) {
  SymbolFound f;
  if (q.version) {
    f.addr = search(after, q);
    f.version_found = f.addr != nullptr;
    if (f.addr) return f;
    q.version = nullptr;
  } else {
    f.version_found = true;
  }
  f.addr = search(after, q);
  return f;
}

bool main_program_is_go() {
  const auto* ph = reinterpret_cast<const ElfW(Phdr)*>(getauxval(AT_PHDR));
  size_t n = getauxval(AT_PHNUM);
  if (!ph || n == 0) return false;
  // The load bias: where PT_PHDR says the headers are, against where they are.
  uintptr_t bias = 0;
  for (size_t i = 0; i < n; i++)
    if (ph[i].p_type == PT_PHDR) bias = reinterpret_cast<uintptr_t>(ph) - ph[i].p_vaddr;
  constexpr uint32_t kGoBuildId = 4;  // NT_GOBUILDID, owner "Go"
  for (size_t i = 0; i < n; i++) {
    if (ph[i].p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(bias + ph[i].p_vaddr);
    const char* end = p + ph[i].p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof *nh;
      size_t name_sz = (nh->n_namesz + 3) & ~size_t{3}, desc_sz = (nh->n_descsz + 3) & ~size_t{3};
      if (name + name_sz + desc_sz > end) break;
      // Go's linker writes the owner padded: "Go\0\0", size 4.
      if (nh->n_type == kGoBuildId && (nh->n_namesz == 3 || nh->n_namesz == 4) &&
          std::memcmp(name, "Go", 3) == 0)
        return true;
      p = name + name_sz + desc_sz;
    }
  }
  return false;
}

}  // namespace gh::shim
