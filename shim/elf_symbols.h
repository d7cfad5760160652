// SPDX-License-Identifier: MIT
// Finds the definition of a symbol the way the dynamic loader would for
// dlsym(RTLD_NEXT) / dlvsym(RTLD_NEXT), by reading the dynamic symbol tables
// of the loaded objects directly.
//
// Unlike dlsym, it never allocates, never calls malloc (a failed dlsym or
// dlvsym builds its error message with the program's malloc, which may be
// jemalloc or tcmalloc calling back into the shim's hooks), and calls no
// interposed function. It may therefore run from any hook, at any time,
// including from inside the program's allocator before the shim's
// constructor.
#pragma once

namespace gh::shim {

struct SymbolQuery {
  const char* name;
  const char* version;  // e.g. "GLIBC_2.3.2"; nullptr: the default version
};

struct SymbolFound {
  void* addr = nullptr;        // nullptr: no object after `after` defines it
  bool version_found = false;  // the requested version exists (always true
                               // when none was requested)
};

// Looks the symbol up in the objects that follow the one containing
// `after` in the loader's search order (what RTLD_NEXT means for a caller
// in that object). With a version, that version's definition if an object
// has it, else the default version's (version_found = false). GNU IFUNCs
// are resolved. Takes the loader's object-list lock (dl_iterate_phdr).
SymbolFound find_next_symbol(const void* after, SymbolQuery q);

// True if the main program was built by Go (its PT_NOTE segments hold the
// "Go" build-id note): Go makes its system calls itself, and a cgo program
// only calls libc for what C code asks, so the shim must stay out of the way.
bool main_program_is_go();

}  // namespace gh::shim
