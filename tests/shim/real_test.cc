// SPDX-License-Identifier: MIT
// The table of real libc functions (shim/real.h) and the allocation-free
// symbol lookup behind it (shim/elf_symbols.h), checked against the dynamic
// loader's own dlsym/dlvsym on the running glibc.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shim/elf_symbols.h"
#include "shim/real.h"

namespace gh::shim {
namespace {

std::vector<RealSymbol> table() {
  std::vector<RealSymbol> all;
  for_each_real([](const RealSymbol& s,
                   void* arg) { static_cast<std::vector<RealSymbol>*>(arg)->push_back(s); },
                &all);
  return all;
}

TEST(RealTable, EveryFunctionResolves) {
  for (const RealSymbol& s : table()) EXPECT_NE(s.addr, nullptr) << s.name;
}

// A version the running glibc lacks would make the loader's dlvsym fail
// (and allocate its error message with the program's malloc).
TEST(RealTable, EveryRequestedVersionExists) {
  for (const RealSymbol& s : table()) {
    if (!s.version) continue;
    EXPECT_TRUE(s.version_found) << s.name << "@" << s.version << " is not in the running glibc";
    EXPECT_NE(dlvsym(RTLD_NEXT, s.name, s.version), nullptr) << s.name << "@" << s.version;
  }
}

TEST(RealTable, SameAddressesAsTheLoader) {
  for (const RealSymbol& s : table()) {
    void* want = s.version ? dlvsym(RTLD_NEXT, s.name, s.version) : dlsym(RTLD_NEXT, s.name);
    EXPECT_EQ(s.addr, want) << s.name;
  }
}

int g_anchor;  // an address in this executable: "next" is everything after it

TEST(ElfSymbols, CompatVersionIsNotTheDefault) {
  SymbolFound old = find_next_symbol(&g_anchor, {"pthread_cond_wait", "GLIBC_2.2.5"});
  SymbolFound cur = find_next_symbol(&g_anchor, {"pthread_cond_wait", nullptr});
  ASSERT_TRUE(old.version_found);
  EXPECT_EQ(old.addr, dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.2.5"));
  EXPECT_EQ(cur.addr, dlsym(RTLD_NEXT, "pthread_cond_wait"));
  EXPECT_NE(old.addr, cur.addr);
}

TEST(ElfSymbols, MissingVersionFallsBackToTheDefault) {
  SymbolFound f = find_next_symbol(&g_anchor, {"pthread_exit", "GLIBC_9.99"});
  EXPECT_FALSE(f.version_found);
  EXPECT_EQ(f.addr, dlsym(RTLD_NEXT, "pthread_exit"));
}

TEST(ElfSymbols, MissingNameIsNull) {
  SymbolFound f = find_next_symbol(&g_anchor, {"greenhouse_no_such_function", nullptr});
  EXPECT_EQ(f.addr, nullptr);
}

TEST(ElfSymbols, IfuncIsResolved) {
  // memcpy is a GNU IFUNC on x86-64: the lookup returns the implementation
  // the loader picked, not the resolver.
  SymbolFound f = find_next_symbol(&g_anchor, {"memcpy", nullptr});
  EXPECT_EQ(f.addr, dlsym(RTLD_NEXT, "memcpy"));
}

}  // namespace
}  // namespace gh::shim
