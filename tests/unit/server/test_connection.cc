// ClientSocket: finding a loopback connection's server end by its addresses, and telling a client
// that closed, reset or is still there (possibly with a pipelined request waiting) apart.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/connection.h"

namespace dsx::server {
namespace {

// A connected pair over loopback in one family: the server end (accepted) and the client end.
struct Pair {
  int listener = -1, server = -1, client = -1;
  std::string host;  // the loopback address as httplib writes it
  int server_port = -1, client_port = -1;

  explicit Pair(int family) {
    sockaddr_storage addr{};
    socklen_t len;
    if (family == AF_INET) {
      auto& a = reinterpret_cast<sockaddr_in&>(addr);
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof a;
      host = "127.0.0.1";
    } else {
      auto& a = reinterpret_cast<sockaddr_in6&>(addr);
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      len = sizeof a;
      host = "::1";
    }
    listener = socket(family, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;  // no such loopback here (IPv6 disabled): ok() is false
    }
    client = socket(family, SOCK_STREAM, 0);
    if (connect(client, reinterpret_cast<sockaddr*>(&addr), len) != 0) return;
    server = accept(listener, nullptr, nullptr);
    server_port = port_of(server);
    client_port = port_of(client);
  }
  ~Pair() {
    for (int fd : {listener, server, client}) {
      if (fd >= 0) close(fd);
    }
  }
  bool ok() const { return server >= 0; }
  ClientSocket find() const { return ClientSocket::find(host, server_port, host, client_port); }
  void close_client() {
    close(client);
    client = -1;
  }

  static int port_of(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return a.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in&>(a).sin_port)
                                  : ntohs(reinterpret_cast<sockaddr_in6&>(a).sin6_port);
  }
};

// Loopback delivers a FIN or a reset before close() returns, but allow for a slow kernel.
bool becomes_closed(const ClientSocket& s) {
  for (int i = 0; i < 100; ++i) {
    if (s.closed()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void finds_and_sees_close(int family) {
  Pair p(family);
  if (!p.ok()) GTEST_SKIP() << "no loopback for this address family";
  const ClientSocket s = p.find();
  ASSERT_TRUE(s.found());
  EXPECT_EQ(s.fd(), p.server);
  EXPECT_FALSE(s.closed());
  // A pipelined request is data, not a goodbye, and peeking leaves it for the reader.
  ASSERT_EQ(write(p.client, "GET", 3), 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(s.closed());
  char buf[8];
  EXPECT_EQ(read(p.server, buf, sizeof buf), 3);
  p.close_client();
  EXPECT_TRUE(becomes_closed(s));
}

TEST(ServerConnection, FindsAnIpv4ConnectionAndSeesItsClientClose) {
  finds_and_sees_close(AF_INET);
}

TEST(ServerConnection, FindsAnIpv6ConnectionAndSeesItsClientClose) {
  finds_and_sees_close(AF_INET6);
}

TEST(ServerConnection, SeesAReset) {
  Pair p(AF_INET);
  ASSERT_TRUE(p.ok());
  const ClientSocket s = p.find();
  ASSERT_TRUE(s.found());
  const linger abort{1, 0};  // close() with a zero linger sends RST instead of FIN
  ASSERT_EQ(setsockopt(p.client, SOL_SOCKET, SO_LINGER, &abort, sizeof abort), 0);
  p.close_client();
  EXPECT_TRUE(becomes_closed(s));
}

TEST(ServerConnection, TellsConnectionsApartAndMissesQuietly) {
  Pair a(AF_INET), b(AF_INET);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.find().fd(), a.server);
  EXPECT_EQ(b.find().fd(), b.server);
  // The client's own end has the addresses swapped.
  EXPECT_EQ(ClientSocket::find(a.host, a.client_port, a.host, a.server_port).fd(), a.client);
  // No such connection, or no addresses at all (a handler called without a socket): never
  // closed, so the request runs as it would have without this check.
  const ClientSocket none = ClientSocket::find(a.host, a.server_port, a.host, 1);
  EXPECT_FALSE(none.found());
  EXPECT_FALSE(none.closed());
  EXPECT_FALSE(ClientSocket::of(httplib::Request{}).found());
}

}  // namespace
}  // namespace dsx::server
