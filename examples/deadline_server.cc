// SPDX-License-Identifier: MIT
// A line server with a deadline per request: each connection's green thread
// reads a request line under a greenhouse::Timeout, so a client that stalls
// is answered "timeout" and disconnected, while the others are served. The
// reads are plain blocking read() calls; the Timeout ends them with
// ETIMEDOUT (docs/api.md, "Timeout").
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <greenhouse.hpp>

using namespace std::chrono_literals;

namespace {

constexpr auto kDeadline = 200ms;

// Reads one line (without its '\n'). 0, or an errno value (ETIMEDOUT) or
// EOF (-1).
int read_line(int fd, std::string& line) {
  line.clear();
  char c;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r == 0) return -1;
    if (r < 0) return errno;
    if (c == '\n') return 0;
    line += c;
  }
}

bool write_all(int fd, const std::string& s) {
  return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

void serve(int fd) {
  std::string line;
  for (;;) {
    int rc;
    {
      greenhouse::Timeout deadline(kDeadline);
      rc = read_line(fd, line);
    }
    if (rc == ETIMEDOUT) {
      write_all(fd, "timeout\n");
      break;
    }
    if (rc != 0 || !write_all(fd, "echo: " + line + "\n")) break;
  }
  close(fd);
}

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listener, 64) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&a), &alen) != 0)
    return 1;
  int port = ntohs(a.sin_port);
  greenhouse::Thread server([listener] {
    for (;;) {
      int fd = accept(listener, nullptr, nullptr);
      if (fd < 0) return;
      greenhouse::spawn([fd] { serve(fd); }, {0, "conn", -1});
    }
  });

  constexpr int kFast = 5;
  std::vector<int> replies(kFast);
  std::vector<greenhouse::Thread> clients;
  for (int i = 0; i < kFast; i++) {
    clients.emplace_back([i, port, &replies] {
      int fd = connect_to(port);
      if (fd < 0) return;
      std::string line;
      for (int k = 0; k < 3; k++) {
        std::string msg = "client " + std::to_string(i) + " request " + std::to_string(k);
        if (!write_all(fd, msg + "\n") || read_line(fd, line) != 0) break;
        if (line == "echo: " + msg) replies[i]++;
      }
      close(fd);
    });
  }
  // The slow client connects and says nothing.
  std::string slow_answer;
  int slow_end = 0;
  greenhouse::Thread slow([port, &slow_answer, &slow_end] {
    int fd = connect_to(port);
    if (fd < 0) return;
    read_line(fd, slow_answer);
    std::string rest;
    slow_end = read_line(fd, rest);  // -1: the server closed
    close(fd);
  });
  for (auto& c : clients) c.join();
  slow.join();

  int failures = 0;
  for (int i = 0; i < kFast; i++) {
    std::printf("fast client %d: %d of 3 replies\n", i, replies[i]);
    failures += replies[i] != 3;
  }
  std::printf("slow client: answered \"%s\", then %s\n", slow_answer.c_str(),
              slow_end == -1 ? "closed" : "NOT closed");
  failures += slow_answer != "timeout" || slow_end != -1;
  shutdown(listener, SHUT_RDWR);
  server.join();
  close(listener);
  return failures ? 1 : 0;
}
