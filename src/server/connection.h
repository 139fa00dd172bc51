// The client socket behind a request, so a non-streaming handler can tell that its client has
// gone. httplib 0.11 gives handlers neither the socket nor a disconnect signal: only a streaming
// response learns of it, when a write fails. A handler that waits for a whole generation writes
// nothing until the end, so it finds the socket itself (Linux: /proc/self/fd) by the addresses
// the Request does carry, and asks the kernel whether the client has closed its end.
#pragma once

#include <httplib.h>

#include <string>

namespace dsx::server {

class ClientSocket {
 public:
  // The connected socket in this process whose own address is local_addr:local_port and whose
  // peer is remote_addr:remote_port, hosts written as httplib writes them (numeric, from
  // getnameinfo). Not found() when there is none (or no /proc).
  static ClientSocket find(const std::string& local_addr, int local_port,
                           const std::string& remote_addr, int remote_port);
  // The socket `req` arrived on.
  static ClientSocket of(const httplib::Request& req);

  bool found() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Whether the client has closed or reset its end. Never blocks and reads nothing (a pipelined
  // next request stays queued for httplib). False when not found(): without the socket a
  // request behaves as if the client were still there.
  bool closed() const;

 private:
  // Not owned: httplib closes the descriptor only after the handler returns, so it stays this
  // connection's for as long as the handler can ask.
  int fd_ = -1;
};

}  // namespace dsx::server
