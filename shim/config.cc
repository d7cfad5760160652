// SPDX-License-Identifier: MIT
#include "shim/config.h"

#include <sys/auxv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gh::shim {

const ConfigVar kConfigVars[] = {
    {"GREENHOUSE_OFF", "0 or 1", "0",
     "1 disables the shim: every call passes straight through to libc"},
    {"GREENHOUSE_STACK_SIZE", "bytes, or with suffix k/m (16k .. 1024m)", "256k",
     "stack size of a green thread whose creator did not set one with "
     "pthread_attr_setstacksize"},
    {"GREENHOUSE_LOG_LEVEL", "error, warn, info or debug", "warn",
     "what the shim reports on stderr (or GREENHOUSE_LOG_FILE)"},
    {"GREENHOUSE_LOG_FILE", "a file path", "(stderr)",
     "where messages go; the file is appended to"},
    {"GREENHOUSE_TLS", "exact or shared", "exact",
     "exact: every green thread has its own thread-local storage, as an OS thread; "
     "shared: green threads share their carrier's (faster to create; for measurements)"},
};
const size_t kConfigVarCount = sizeof kConfigVars / sizeof kConfigVars[0];

namespace {
Config g_config;
}

const Config& config() { return g_config; }
void set_config(const Config& c) { g_config = c; }

bool parse_size(const char* s, size_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s || *s == '-') return false;
  unsigned long long mult = 1;
  if (*end == 'k' || *end == 'K') {
    mult = 1024;
    end++;
  } else if (*end == 'm' || *end == 'M') {
    mult = 1024 * 1024;
    end++;
  }
  if (*end != '\0') return false;
  if (v > (1ull << 40) / mult) return false;
  *out = static_cast<size_t>(v * mult);
  return true;
}

bool parse_config(Config* out, char* err, size_t errlen) {
  Config c;
  if (getauxval(AT_SECURE)) {
    *out = c;  // secure execution: the environment is not trusted
    return true;
  }
  auto fail = [&](const char* var, const char* val) {
    const char* form = "";
    for (size_t i = 0; i < kConfigVarCount; i++)
      if (std::strcmp(kConfigVars[i].name, var) == 0) form = kConfigVars[i].form;
    std::snprintf(err, errlen, "%s=%s is invalid: expected %s", var, val, form);
    return false;
  };
  if (const char* v = std::getenv("GREENHOUSE_OFF")) {
    if (std::strcmp(v, "0") == 0 || *v == '\0')
      c.off = false;
    else if (std::strcmp(v, "1") == 0)
      c.off = true;
    else
      return fail("GREENHOUSE_OFF", v);
  }
  if (const char* v = std::getenv("GREENHOUSE_STACK_SIZE")) {
    size_t sz;
    if (!parse_size(v, &sz) || sz < 16 * 1024 || sz > 1024ull * 1024 * 1024)
      return fail("GREENHOUSE_STACK_SIZE", v);
    c.stack_size = sz;
  }
  if (const char* v = std::getenv("GREENHOUSE_LOG_LEVEL")) {
    static const char* names[] = {"error", "warn", "info", "debug"};
    int lvl = -1;
    for (int i = 0; i < 4; i++)
      if (std::strcmp(v, names[i]) == 0) lvl = i;
    if (lvl < 0) return fail("GREENHOUSE_LOG_LEVEL", v);
    c.log_level = lvl;
  }
  if (const char* v = std::getenv("GREENHOUSE_LOG_FILE")) {
    if (!*v) return fail("GREENHOUSE_LOG_FILE", v);
    c.log_file = v;
  }
  if (const char* v = std::getenv("GREENHOUSE_TLS")) {
    if (std::strcmp(v, "exact") == 0)
      c.shared_tls = false;
    else if (std::strcmp(v, "shared") == 0)
      c.shared_tls = true;
    else
      return fail("GREENHOUSE_TLS", v);
  }
  *out = c;
  return true;
}

}  // namespace gh::shim
