// SPDX-License-Identifier: MIT
// greenhouse [options] [--] PROGRAM [ARGS...]
//
// Runs PROGRAM with libgreenhouse.so added to LD_PRELOAD, after checking that
// interposition can work for it (not setuid, not statically linked, not Go)
// and that the configuration is valid. See `greenhouse --help`.
#include <elf.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <string>
#include <vector>

#include "shim/config.h"

#ifndef GREENHOUSE_VERSION
#define GREENHOUSE_VERSION "unknown"
#endif
#ifndef GREENHOUSE_LIBDIR
#define GREENHOUSE_LIBDIR "/usr/local/lib"
#endif

namespace {

using gh::shim::kConfigVarCount;
using gh::shim::kConfigVars;

[[noreturn]] void die(int code, const char* fmt, const std::string& a = "",
                      const std::string& b = "") {
  std::fprintf(stderr, "greenhouse: ");
  std::fprintf(stderr, fmt, a.c_str(), b.c_str());
  std::fputc('\n', stderr);
  std::exit(code);
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: greenhouse [options] [--] PROGRAM [ARGS...]\n"
               "       greenhouse ps PID [--stacks] [--json]\n"
               "\n"
               "Runs PROGRAM with its threads as green threads and its blocking I/O through\n"
               "io_uring, or epoll where io_uring is refused (libgreenhouse.so in LD_PRELOAD).\n"
               "The program is not modified.\n"
               "\n"
               "options:\n"
               "  --stack-size=SIZE   sets GREENHOUSE_STACK_SIZE\n"
               "  --log-level=LEVEL   sets GREENHOUSE_LOG_LEVEL\n"
               "  --log-file=PATH     sets GREENHOUSE_LOG_FILE\n"
               "  --carriers=N        sets GREENHOUSE_CARRIERS\n"
               "  --handoff-ms=MS     sets GREENHOUSE_HANDOFF_MS\n"
               "  --spread=WHEN       sets GREENHOUSE_SPREAD (auto, always, never)\n"
               "  --backend=KIND      sets GREENHOUSE_BACKEND (auto, io_uring, epoll)\n"
               "  --off               sets GREENHOUSE_OFF=1 (run without interposition)\n"
               "  -h, --help          this text\n"
               "  --version           the version, and the I/O backend programs would use here\n"
               "\n"
               "environment (read by the shim in the program; ignored for setuid programs):\n");
  for (size_t i = 0; i < kConfigVarCount; i++) {
    const auto& v = kConfigVars[i];
    std::fprintf(out, "  %s\n      %s.\n      accepted: %s; default: %s\n", v.name, v.help, v.form,
                 v.def);
  }
  std::fprintf(out,
               "\n"
               "greenhouse refuses programs it cannot interpose: setuid/setgid programs (the\n"
               "loader ignores LD_PRELOAD for them), statically linked programs (no dynamic\n"
               "loader) and Go programs (they make system calls without libc).\n"
               "See docs/usage.md and docs/compatibility.md.\n");
}

// roff-escapes s for the manual page: backslashes, and a leading '.' or '\''.
std::string roff(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else if (c == '`')
      out += "\\(aq";
    else
      out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

// The manual page greenhouse(1), in roff: the build installs it. The
// variables come from the table the shim parses, so the page cannot miss one.
void man_page() {
  std::printf(
      ".TH GREENHOUSE 1 \"\" \"greenhouse %s\" \"User Commands\"\n"
      ".SH NAME\n"
      "greenhouse \\- run a thread\\-per\\-task program on green threads and io_uring\n"
      ".SH SYNOPSIS\n"
      ".B greenhouse\n"
      "[\\fIoptions\\fR] [\\fB\\-\\-\\fR] \\fIprogram\\fR [\\fIargs\\fR...]\n"
      ".br\n"
      ".B greenhouse ps\n"
      "\\fIpid\\fR [\\fB\\-\\-stacks\\fR] [\\fB\\-\\-json\\fR]\n"
      ".SH DESCRIPTION\n"
      "\\fBgreenhouse\\fR runs an unmodified, dynamically linked program with "
      "\\fIlibgreenhouse.so\\fR in \\fBLD_PRELOAD\\fR. Its threads become green threads "
      "(stackful coroutines) on a few carrier OS threads, one per usable CPU; blocking calls "
      "(\\fBread\\fR, \\fBaccept\\fR, \\fBsleep\\fR, \\fBpoll\\fR, file I/O, locks, ...) "
      "park only the calling green thread while io_uring (or epoll, where io_uring is refused) "
      "carries them out. Every call returns what the native call would.\n"
      ".PP\n"
      "Programs that cannot be interposed are refused: setuid/setgid programs, statically "
      "linked programs and Go programs.\n"
      ".SH OPTIONS\n"
      ".TP\n\\fB\\-\\-stack\\-size=\\fR\\fIsize\\fR\nSets \\fBGREENHOUSE_STACK_SIZE\\fR.\n"
      ".TP\n\\fB\\-\\-log\\-level=\\fR\\fIlevel\\fR\nSets \\fBGREENHOUSE_LOG_LEVEL\\fR.\n"
      ".TP\n\\fB\\-\\-log\\-file=\\fR\\fIpath\\fR\nSets \\fBGREENHOUSE_LOG_FILE\\fR.\n"
      ".TP\n\\fB\\-\\-carriers=\\fR\\fIn\\fR\nSets \\fBGREENHOUSE_CARRIERS\\fR.\n"
      ".TP\n\\fB\\-\\-handoff\\-ms=\\fR\\fIms\\fR\nSets \\fBGREENHOUSE_HANDOFF_MS\\fR.\n"
      ".TP\n\\fB\\-\\-spread=\\fR\\fIwhen\\fR\nSets \\fBGREENHOUSE_SPREAD\\fR "
      "(auto, always, never).\n"
      ".TP\n\\fB\\-\\-backend=\\fR\\fIkind\\fR\nSets \\fBGREENHOUSE_BACKEND\\fR "
      "(auto, io_uring, epoll).\n"
      ".TP\n\\fB\\-\\-off\\fR\nSets \\fBGREENHOUSE_OFF=1\\fR: no interposition.\n"
      ".TP\n\\fB\\-\\-version\\fR\nPrints the version and the I/O backend a program "
      "would use here.\n"
      ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nPrints a summary.\n"
      ".SH GREENHOUSE PS\n"
      "\\fBgreenhouse ps\\fR \\fIpid\\fR lists the green threads of a running program "
      "started under greenhouse: id (what \\fBgettid\\fR(2) returns in it), name, state "
      "(running, runnable, parked, exited), carrier, what it waits on (an operation and fd, or "
      "the address of a mutex, condition variable or other object) and for how long, and a line "
      "per carrier. \\fB\\-\\-stacks\\fR adds a backtrace of each parked thread; "
      "\\fB\\-\\-json\\fR prints one JSON object. The program answers on the abstract Unix "
      "socket \\fI@greenhouse\\-control\\-PID\\fR, to its own user and root only. To run a "
      "program named ps under the shim, write \\fBgreenhouse \\-\\- ps\\fR.\n"
      ".SH ENVIRONMENT\n"
      "Read by the shim in the program (and checked by the launcher first). An invalid value "
      "stops the program with a message naming the variable and the accepted form, exit status "
      "2. Ignored for setuid/setgid programs.\n",
      GREENHOUSE_VERSION);
  for (size_t i = 0; i < kConfigVarCount; i++) {
    const auto& v = kConfigVars[i];
    std::printf(".TP\n.B %s\n%s.\n.br\nAccepted: %s. Default: %s.\n", v.name, roff(v.help).c_str(),
                roff(v.form).c_str(), roff(v.def).c_str());
  }
  std::printf(
      ".SH EXIT STATUS\n"
      "The program's own, once it runs. Before: 2 for an invalid option or variable, 1 when "
      "the library cannot be found, 126 when the program cannot be run or interposed, 127 when "
      "it is not found. \\fBgreenhouse ps\\fR: 0, or 1 when the process cannot be asked or "
      "refuses.\n"
      ".SH FILES\n"
      ".TP\n.I libgreenhouse.so\nThe shim, looked for next to the launcher, in ../lib and "
      "../lib/x86_64\\-linux\\-gnu from it, and in %s.\n"
      ".TP\n.I greenhouse.py\nThe gdb helper (\\fBinfo green\\-threads\\fR, "
      "\\fBgreen\\-bt\\fR), in the package's gdb directory.\n"
      ".SH SEE ALSO\n"
      "\\fBgdb\\fR(1), \\fBio_uring\\fR(7), \\fBpthreads\\fR(7), \\fBld.so\\fR(8)\n",
      GREENHOUSE_LIBDIR);
}

bool is_executable_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> path_dirs() {
  std::vector<std::string> dirs;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    dirs.push_back(end > start ? p.substr(start, end - start) : ".");
    start = end + 1;
  }
  return dirs;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), F_OK) != 0) die(127, "%s: no such file", name);
    if (!is_executable_file(name)) die(126, "%s: not an executable file", name);
    return name;
  }
  for (const auto& d : path_dirs()) {
    std::string c = d + "/" + name;
    if (is_executable_file(c)) return c;
  }
  // Not found: suggest the closest command on PATH.
  std::string best;
  size_t best_d = 3;
  for (const auto& d : path_dirs()) {
    DIR* dir = opendir(d.c_str());
    if (!dir) continue;
    while (dirent* e = readdir(dir)) {
      std::string n = e->d_name;
      if (n[0] == '.') continue;
      size_t dist = edit_distance(name, n);
      if (dist < best_d && is_executable_file(d + "/" + n)) {
        best_d = dist;
        best = n;
      }
    }
    closedir(dir);
  }
  if (!best.empty()) die(127, "%s: command not found; did you mean '%s'?", name, best);
  die(127, "%s: command not found", name);
}

// Refuses programs whose calls greenhouse cannot interpose.
void check_interposable(const std::string& path, int depth = 0) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) die(127, "%s: no such file", path);
  if (st.st_mode & (S_ISUID | S_ISGID))
    die(126,
        "%s is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it, so greenhouse "
        "cannot run it",
        path);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) die(126, "%s: cannot be read", path);
  std::vector<unsigned char> head(4096);
  size_t n = std::fread(head.data(), 1, head.size(), f);
  if (n >= 2 && head[0] == '#' && head[1] == '!') {
    std::fclose(f);
    // A script: its interpreter is what runs.
    std::string line(reinterpret_cast<char*>(head.data()) + 2, n - 2);
    line = line.substr(0, line.find('\n'));
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || depth > 2) return;
    std::string interp = line.substr(b, line.find_first_of(" \t", b) - b);
    if (interp == "/usr/bin/env" || interp == "/bin/env") return;  // resolved at run time
    check_interposable(interp, depth + 1);
    return;
  }
  if (n < sizeof(Elf64_Ehdr) || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) {
    std::fclose(f);
    return;  // not ELF: let exec decide
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, head.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    std::fclose(f);
    die(126, "%s is not a 64-bit program; greenhouse supports x86-64 programs only", path);
  }
  bool has_interp = false;
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    if (std::fseek(f, static_cast<long>(eh.e_phoff + i * eh.e_phentsize), SEEK_SET) != 0 ||
        std::fread(&ph, sizeof ph, 1, f) != 1)
      break;
    if (ph.p_type == PT_INTERP) has_interp = true;
  }
  // Section names: a Go binary carries .go.buildinfo / .note.go.buildid.
  bool is_go = false;
  Elf64_Shdr strtab;
  if (eh.e_shoff && eh.e_shstrndx != SHN_UNDEF &&
      std::fseek(f, static_cast<long>(eh.e_shoff + eh.e_shstrndx * eh.e_shentsize), SEEK_SET) ==
          0 &&
      std::fread(&strtab, sizeof strtab, 1, f) == 1 && strtab.sh_size < (1u << 20)) {
    std::vector<char> names(strtab.sh_size + 1, 0);
    if (std::fseek(f, static_cast<long>(strtab.sh_offset), SEEK_SET) == 0 &&
        std::fread(names.data(), 1, strtab.sh_size, f) == strtab.sh_size) {
      for (int i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        if (std::fseek(f, static_cast<long>(eh.e_shoff + i * eh.e_shentsize), SEEK_SET) != 0 ||
            std::fread(&sh, sizeof sh, 1, f) != 1)
          break;
        if (sh.sh_name < strtab.sh_size) {
          const char* nm = names.data() + sh.sh_name;
          if (!std::strcmp(nm, ".go.buildinfo") || !std::strcmp(nm, ".note.go.buildid"))
            is_go = true;
        }
      }
    }
  }
  std::fclose(f);
  if (is_go)
    die(126,
        "%s is a Go program: Go makes its system calls directly, not through libc, so "
        "greenhouse cannot interpose them",
        path);
  if (!has_interp)
    die(126,
        "%s is statically linked: there is no dynamic loader to honour LD_PRELOAD, so "
        "greenhouse cannot interpose its calls",
        path);
}

std::string find_library() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::vector<std::string> candidates;
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    candidates.push_back(dir + "/libgreenhouse.so");
    candidates.push_back(dir + "/../lib/libgreenhouse.so");
    candidates.push_back(dir + "/../lib/x86_64-linux-gnu/libgreenhouse.so");
  }
  candidates.push_back(std::string(GREENHOUSE_LIBDIR) + "/libgreenhouse.so");
  for (const auto& c : candidates) {
    char real[4096];
    if (realpath(c.c_str(), real) && access(real, R_OK) == 0) return real;
  }
  die(1, "cannot find libgreenhouse.so next to the launcher or in %s", GREENHOUSE_LIBDIR);
}

// What backend the shim would choose in this environment (the launcher runs
// under the same seccomp profile and sysctls as the program it starts).
std::string backend_line(const gh::shim::Config& cfg) {
  if (cfg.backend == gh::BackendKind::kEpoll) return "epoll (GREENHOUSE_BACKEND=epoll)";
  io_uring_params p{};
  long fd = syscall(__NR_io_uring_setup, 1, &p);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return "io_uring";
  }
  std::string why = std::string("io_uring refused here: ") + std::strerror(errno);
  if (cfg.backend == gh::BackendKind::kIoUring)
    return "none (GREENHOUSE_BACKEND=io_uring; " + why + ")";
  return "epoll (" + why + ")";
}

}  // namespace

// greenhouse ps PID [--stacks] [--json]: asks the process's control socket
// (shim/control.h) for its report and prints it.
int ps_main(int argc, char** argv) {
  long pid = 0;
  std::string req = "ps";
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--stacks" || a == "--json") {
      req += " " + a;
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: greenhouse ps PID [--stacks] [--json]\n\n"
          "Lists the green threads of a running program started under greenhouse: id, name,\n"
          "state, carrier, what each waits on and for how long; --stacks adds a backtrace of\n"
          "each parked thread, --json prints one JSON object. Only the program's user (and\n"
          "root) may ask. (To run a program named ps under the shim: greenhouse -- ps ...)\n");
      return 0;
    } else if (pid == 0 && !a.empty() && a.size() <= 10 &&
               a.find_first_not_of("0123456789") == std::string::npos) {
      pid = std::strtol(a.c_str(), nullptr, 10);
      if (pid > INT32_MAX) pid = -1;
    } else {
      std::fprintf(stderr, "greenhouse ps: unexpected argument %s (see greenhouse ps --help)\n",
                   a.c_str());
      return 2;
    }
  }
  if (pid <= 0) {
    std::fprintf(stderr, "usage: greenhouse ps PID [--stacks] [--json]\n");
    return 2;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  gh::shim::control_socket_name(static_cast<int>(pid), addr.sun_path + 1, sizeof addr.sun_path - 1);
  socklen_t alen =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(addr.sun_path + 1));
  if (s < 0 || connect(s, reinterpret_cast<sockaddr*>(&addr), alen) != 0) {
    int e = errno;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::fprintf(stderr, "greenhouse ps: no process %ld\n", pid);
      return 1;
    }
    std::fprintf(stderr,
                 "greenhouse ps: process %ld has no control socket (%s): not running under\n"
                 "greenhouse, not started a thread yet, in another network namespace, or run\n"
                 "with GREENHOUSE_CONTROL=0\n",
                 pid, std::strerror(e));
    return 1;
  }
  // The socket's name is not owned: make sure the one answering is that
  // process, and runs as the user who owns it (or root), before believing it.
  ucred cred{};
  socklen_t clen = sizeof cred;
  struct stat proc_st;
  std::string proc_dir = "/proc/" + std::to_string(pid);
  if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || cred.pid != pid ||
      stat(proc_dir.c_str(), &proc_st) != 0 || (cred.uid != proc_st.st_uid && cred.uid != 0)) {
    std::fprintf(stderr,
                 "greenhouse ps: the control socket of process %ld is held by another process "
                 "(pid %d, uid %u): not asking it\n",
                 pid, static_cast<int>(cred.pid), static_cast<unsigned>(cred.uid));
    return 1;
  }
  // A report of many threads with stacks takes a while; a process that does
  // not answer at all does not hang us.
  timeval tv{60, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  req += "\n";
  // A process that refuses us may close before reading the request: the
  // answer, not the send, says what happened.
  (void)send(s, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[65536];
  bool refused = false;
  size_t total = 0;
  for (;;) {
    ssize_t n = read(s, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::fprintf(stderr, "greenhouse ps: process %ld did not answer within 60 s\n", pid);
      return 1;
    }
    if (n <= 0) break;
    if (total == 0 && std::strncmp(buf, "greenhouse: refused", 19) == 0) refused = true;
    total += static_cast<size_t>(n);
    fwrite(buf, 1, static_cast<size_t>(n), refused ? stderr : stdout);
  }
  close(s);
  if (total == 0) {
    std::fprintf(stderr, "greenhouse ps: process %ld closed the connection without a report\n",
                 pid);
    return 1;
  }
  return refused ? 1 : 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "ps") == 0) return ps_main(argc, argv);
  int i = 1;
  for (; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](const char* opt) -> const char* {
      size_t l = std::strlen(opt);
      if (a.compare(0, l, opt) == 0 && a.size() > l && a[l] == '=') return argv[i] + l + 1;
      return nullptr;
    };
    if (a == "--") {
      i++;
      break;
    }
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if (a == "--man") {  // for the build: the manual page
      man_page();
      return 0;
    }
    if (a == "--version") {
      std::printf("greenhouse %s\n", GREENHOUSE_VERSION);
      gh::shim::Config cfg;
      char err[512];
      if (!gh::shim::parse_config(&cfg, err, sizeof err)) {
        std::fprintf(stderr, "greenhouse: %s\n", err);
        return 2;
      }
      std::printf("backend: %s\n", backend_line(cfg).c_str());
      return 0;
    }
    if (a == "--off") {
      setenv("GREENHOUSE_OFF", "1", 1);
    } else if (const char* v = value("--stack-size")) {
      setenv("GREENHOUSE_STACK_SIZE", v, 1);
    } else if (const char* v2 = value("--log-level")) {
      setenv("GREENHOUSE_LOG_LEVEL", v2, 1);
    } else if (const char* v3 = value("--log-file")) {
      setenv("GREENHOUSE_LOG_FILE", v3, 1);
    } else if (const char* v4 = value("--carriers")) {
      setenv("GREENHOUSE_CARRIERS", v4, 1);
    } else if (const char* v5 = value("--handoff-ms")) {
      setenv("GREENHOUSE_HANDOFF_MS", v5, 1);
    } else if (const char* v6 = value("--backend")) {
      setenv("GREENHOUSE_BACKEND", v6, 1);
    } else if (const char* v7 = value("--spread")) {
      setenv("GREENHOUSE_SPREAD", v7, 1);
    } else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "greenhouse: unknown option %s (see greenhouse --help)\n", a.c_str());
      return 2;
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }
  gh::shim::Config cfg;
  char err[512];
  if (!gh::shim::parse_config(&cfg, err, sizeof err)) {
    std::fprintf(stderr, "greenhouse: %s\n", err);
    return 2;
  }
  std::string prog = find_program(argv[i]);
  check_interposable(prog);
  std::string lib = find_library();
  const char* old = std::getenv("LD_PRELOAD");
  std::string preload = lib;
  if (old && *old) preload += std::string(" ") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  execv(prog.c_str(), argv + i);
  if (errno == ENOEXEC) {
    // An executable file the kernel does not recognise (a script without a
    // "#!" line): /bin/sh runs it, as execvp and the shells do.
    std::vector<char*> sh_argv;
    sh_argv.push_back(const_cast<char*>("/bin/sh"));
    sh_argv.push_back(const_cast<char*>(prog.c_str()));
    for (int k = i + 1; k < argc; k++) sh_argv.push_back(argv[k]);
    sh_argv.push_back(nullptr);
    execv("/bin/sh", sh_argv.data());
    errno = ENOEXEC;
  }
  std::fprintf(stderr, "greenhouse: cannot run %s: %s\n", prog.c_str(), std::strerror(errno));
  return 126;
}
