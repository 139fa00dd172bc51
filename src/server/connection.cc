// Finding a request's socket by its addresses, and asking whether its client has gone (Linux).
#include "server/connection.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

namespace dsx::server {
namespace {

// The numeric host and port of a socket address, made the way httplib makes Request::remote_addr
// and local_addr (getnameinfo with NI_NUMERICHOST), so equal addresses give equal strings in
// either family (IPv4, IPv6, IPv4-mapped IPv6, scoped link-local).
bool endpoint(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
  if (addr.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  } else if (addr.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  } else {
    return false;
  }
  char buf[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buf, sizeof buf, nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return false;
  }
  host = buf;
  return true;
}

using NameFn = int (*)(int, sockaddr*, socklen_t*);

bool has_address(int fd, NameFn name, const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (name(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  std::string h;
  int p = -1;
  return endpoint(addr, len, h, p) && p == port && h == host;
}

}  // namespace

ClientSocket ClientSocket::find(const std::string& local_addr, int local_port,
                                const std::string& remote_addr, int remote_port) {
  ClientSocket s;
  if (local_addr.empty() || remote_addr.empty()) return s;  // e.g. a Unix socket
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return s;
  // The peer address first: it rules out everything but connected sockets in one call (files
  // and the listening socket fail it), and it is what tells connections apart.
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (has_address(static_cast<int>(fd), getpeername, remote_addr, remote_port) &&
        has_address(static_cast<int>(fd), getsockname, local_addr, local_port)) {
      s.fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return s;
}

ClientSocket ClientSocket::of(const httplib::Request& req) {
  return find(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
}

bool ClientSocket::closed() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;  // no event: the client is still there
  // A FIN (the client closed or shut down its sending side; HTTP clients do not half-close
  // while waiting for a response), a reset, or a socket error.
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  if (!(p.revents & POLLIN)) return false;
  // Readable without a FIN flag: data (a pipelined request, not a goodbye) or an end of file
  // the kernel reported as plain POLLIN. Peeking tells them apart without taking the data.
  char c;
  const ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace dsx::server
