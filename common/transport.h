// Sockets for every endpoint kind behind one type: asio's generic stream protocol carries unix,
// vsock and tcp alike, so the layers above never care which one they have.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "common/asio.h"
#include "common/endpoint.h"
#include "common/result.h"
#include "common/unique_fd.h"

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

// Local mode hands the shared region's memfd over the unix socket with SCM_RIGHTS, attached to
// the first byte of the host's hello (FramedStream::send with a fd). The guest peeks at that byte
// before its framed reader starts: MSG_PEEK leaves the byte in the stream, so the reader sees the
// whole hello, and the kernel drops the fd's stream copy when the reader consumes the byte
// without asking for ancillary data. Call when the socket is readable (FramedStream does);
// an invalid UniqueFd means "no fd was attached", EAGAIN "nothing to read yet".
Result<UniqueFd> peek_passed_fd(Socket& socket);
// Sends bytes[0, n) with `fd` attached (SCM_RIGHTS), without blocking: the number of bytes the
// kernel took (at least 1 on success; the fd rides on the first), or EAGAIN.
Result<std::size_t> send_with_fd(Socket& socket, std::span<const std::byte> bytes, int fd);

}  // namespace bridge
