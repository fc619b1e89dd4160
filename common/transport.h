// Sockets for every endpoint kind behind one type: asio's generic stream protocol carries unix,
// vsock and tcp alike, so the layers above never care which one they have.
#pragma once

#include <string>

#include "common/asio.h"
#include "common/endpoint.h"
#include "common/result.h"

namespace bridge {

using Socket = asio::generic::stream_protocol::socket;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// Binds and listens. A unix socket file left by a dead process is replaced; one that a live
// process still answers on is an error (EADDRINUSE) naming it. hybrid:PATH listens on
// PATH_<port>. vhost-user is not a plain listener and is refused here.
Result<Acceptor> listen_on(asio::io_context& io, const Endpoint& endpoint, uint32_t hybrid_port);

// Connects once; the caller owns retry and backoff.
asio::awaitable<Result<Socket>> connect_to(const Endpoint& endpoint);

// The peer's identity for logs ("unix:/run/x.sock", "vsock:3:1234").
std::string describe_peer(const Socket& socket);

}  // namespace bridge
