#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installing: `cmake --install` into a temporary prefix puts the launcher,
# the library, greenhouse.h, greenhouse(1), the gdb helper and a pkg-config
# file there (a program builds against the API with pkg-config alone); the
# installed launcher finds its library by itself and runs stock tools (sort
# --parallel, xz -T2) with the same output as natively; `cpack -G DEB` makes
# a package whose files, unpacked, do the same.
source "$(dirname "$0")/../stock/lib.sh"
gh_init "$@"
need cmake sort xz
BIN="$(dirname "$GH")"
[ -f "$BIN/CMakeCache.txt" ] || { log "missing $BIN/CMakeCache.txt (run from a build tree)"; exit 1; }

seq 200000 -1 1 | sed 's/$/ line of text/' > "$WORK/in.txt"
want_sort="$(sort --parallel=4 -S 1M "$WORK/in.txt" | sha256sum)"
want_xz="$(xz -T2 -c "$WORK/in.txt" | xz -dc | sha256sum)"

# check_tree LABEL LAUNCHER LIBRARY: the launcher runs stock tools with the
# library it should find (mapped in the tool), output as natively.
check_tree() {
  local label="$1" launcher="$2" lib="$3"
  local v maps
  v="$("$launcher" --version 2>&1)"
  [[ "$v" =~ ^greenhouse\ [0-9.]+ ]] && pass "$label: --version: ${v%%$'\n'*}" ||
    fail "$label: --version said: $v"
  maps="$("$launcher" -- grep -F libgreenhouse.so /proc/self/maps | awk '{print $6}' | sort -u)"
  [ "$maps" = "$(realpath "$lib")" ] && pass "$label: the launcher preloads $maps" ||
    fail "$label: mapped '$maps', expected $(realpath "$lib")"
  [ "$("$launcher" -- sort --parallel=4 -S 1M "$WORK/in.txt" | sha256sum)" = "$want_sort" ] &&
    pass "$label: sort --parallel=4 output as natively" || fail "$label: sort output differs"
  [ "$("$launcher" -- xz -T2 -c "$WORK/in.txt" | xz -dc | sha256sum)" = "$want_xz" ] &&
    pass "$label: xz -T2 round trip as natively" || fail "$label: xz output differs"
}

prefix="$WORK/prefix"
if cmake --install "$BIN" --prefix "$prefix" >"$WORK/install.log" 2>&1; then
  pass "cmake --install into $prefix"
else
  fail "cmake --install failed:"
  log "$(tail -20 "$WORK/install.log")"
  finish
fi
lib="$(find "$prefix" -name libgreenhouse.so | head -1)"
check_tree "installed" "$prefix/bin/greenhouse" "$lib"
man1="$prefix/share/man/man1/greenhouse.1"
if [ -f "$man1" ] && [ -z "$(groff -man -Tutf8 -ww -z "$man1" 2>&1)" ] &&
   grep -q "GREENHOUSE_DUMP_SIGNAL" "$man1"; then
  pass "greenhouse(1) installed, renders without warnings, lists the variables"
else
  fail "greenhouse(1) missing or malformed"
fi
[ -f "$prefix/share/greenhouse/gdb/greenhouse.py" ] && pass "gdb helper installed" ||
  fail "gdb helper not installed"
pc="$(find "$prefix" -name greenhouse.pc | head -1)"
got="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=launcher greenhouse 2>&1)"
[ "$(realpath "$got" 2>/dev/null)" = "$(realpath "$prefix/bin/greenhouse")" ] &&
  pass "pkg-config --variable=launcher greenhouse: the installed launcher" ||
  fail "pkg-config said '$got'"

# greenhouse.h: a program built against the installed tree with pkg-config
# alone runs with green threads, no launcher (docs/api.md).
src="$(cd "$(dirname "$0")/../../.." && pwd)/examples/pipeline.c"
libdir="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=libdir greenhouse)"
if cc -O2 -o "$WORK/pipeline" "$src" \
     $(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs greenhouse) \
     -Wl,-rpath,"$libdir" 2>"$WORK/cc.log"; then
  out="$("$WORK/pipeline" 2>&1)" && [[ "$out" == *": ok" ]] &&
    pass "a program built with pkg-config --cflags --libs greenhouse: $out" ||
    fail "the program built against the installed API said: $out"
  [ -f "$prefix/include/greenhouse.hpp" ] && pass "greenhouse.hpp installed" ||
    fail "greenhouse.hpp not installed"
else
  fail "building against the installed greenhouse.h failed: $(tail -5 "$WORK/cc.log")"
fi

# The Debian package.
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null; then
  if (cd "$WORK" && cpack -G DEB -B "$WORK/deb" --config "$BIN/CPackConfig.cmake") \
      >"$WORK/cpack.log" 2>&1; then
    deb="$(ls "$WORK"/deb/*.deb 2>/dev/null | head -1)"
    pass "cpack -G DEB: $(basename "$deb")"
    dpkg-deb -f "$deb" Depends | grep -q "libc6" && pass "the package depends on libc6 (shlibdeps)" ||
      fail "the package's Depends: $(dpkg-deb -f "$deb" Depends)"
    dpkg-deb -x "$deb" "$WORK/root"
    check_tree "unpacked .deb" "$WORK/root/usr/bin/greenhouse" \
      "$(find "$WORK/root" -name libgreenhouse.so | head -1)"
  else
    fail "cpack -G DEB failed:"
    log "$(tail -20 "$WORK/cpack.log")"
  fi
else
  log "(no cpack or dpkg-deb: the package check is left out)"
fi
finish
