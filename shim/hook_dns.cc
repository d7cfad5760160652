// SPDX-License-Identifier: MIT
// DNS: getaddrinfo, getnameinfo and gethostbyname(_r) block inside libc (and
// NSS modules) without a way to make them non-blocking, so they run on the
// offload pool (core/offload.h) while the calling green thread parks.
#include "core/offload.h"
#include "shim/state.h"

using namespace gh::shim;

GH_EXPORT int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res) {
  if (!may_park()) return real::getaddrinfo(node, service, hints, res);
  return gh::offload_call([&] { return real::getaddrinfo(node, service, hints, res); });
}

GH_EXPORT int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) {
  if (!may_park()) return real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
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
