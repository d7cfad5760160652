// SPDX-License-Identifier: MIT
// DNS: getaddrinfo, getnameinfo and gethostbyname(_r) block inside libc (and
// NSS modules) without a way to make them non-blocking, so they run on the
// offload pool (core/offload.h) while the calling green thread parks;
// queries of numbers alone, which look nothing up, run where they are.
#include <arpa/inet.h>
#include <netdb.h>

#include "core/offload.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

// Whether getaddrinfo can answer without a lookup: the host is absent or an
// address literal and the service absent or a port number. glibc then
// looks nothing up (an AI_ADDRCONFIG check asks the kernel over netlink,
// which answers at once), so the call runs here rather than on the offload
// pool: servers parse numeric addresses with it on every request.
bool numeric_query(const char* node, const char* service, const addrinfo* hints) {
  // (Read as glibc reads it: a bad pointer faults there as it would in libc.)
  int flags = hints ? hints->ai_flags : 0;
  if (flags & AI_CANONNAME) return false;
  if (node && !(flags & AI_NUMERICHOST)) {
    unsigned char addr[sizeof(in6_addr)];
    if (inet_pton(AF_INET, node, addr) != 1 && inet_pton(AF_INET6, node, addr) != 1) return false;
  }
  return !service || (flags & AI_NUMERICSERV) || all_digits(service);
}

}  // namespace

GH_EXPORT int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res) {
  if (!may_park() || numeric_query(node, service, hints))
    return real::getaddrinfo(node, service, hints, res);
  return gh::offload_call([&] { return real::getaddrinfo(node, service, hints, res); });
}

GH_EXPORT int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) {
  // Numbers only (or nothing asked): no lookup.
  bool numeric = (!host || hostlen == 0 || (flags & NI_NUMERICHOST)) &&
                 (!serv || servlen == 0 || (flags & NI_NUMERICSERV));
  if (!may_park() || numeric)
    return real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  return gh::offload_call(
      [&] { return real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags); });
}

GH_EXPORT hostent* gethostbyname(const char* name) {
  // Returns static storage shared by the whole process, as glibc does; the
  // result must be read before the next call, exactly as natively.
  if (!may_park()) return real::gethostbyname(name);
  int herr = 0;
  hostent* r = gh::offload_call([&] {
    hostent* h = real::gethostbyname(name);
    herr = h_errno;
    return h;
  });
  h_errno = herr;
  return r;
}

GH_EXPORT int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen,
                              hostent** result, int* h_errnop) {
  if (!may_park()) return real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop);
  return gh::offload_call(
      [&] { return real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop); });
}
