// A byte stream carrying bridge.capnp frames (schema/frame.h) in both directions.
//
// Threading: the stream belongs to one single-threaded io_context. read() is called by the
// connection's one coroutine; send() and close() may be called from any thread: they post to
// the io_context, so frames from many threads go out whole and in the order they were posted.
//
// The reader never reads past the frame it returns (exact-size reads), so bytes after a frame
// stay in the socket for whoever reads next.
#pragma once

#include <capnp/message.h>

#include <deque>
#include <memory>

#include "common/asio.h"
#include "common/result.h"
#include "common/transport.h"
#include "common/unique_fd.h"
#include "schema/frame.h"

namespace bridge {

class FramedStream : public std::enable_shared_from_this<FramedStream> {
 public:
  FramedStream(Socket socket, frame::Limits limits = {});
  FramedStream(const FramedStream&) = delete;
  FramedStream& operator=(const FramedStream&) = delete;

  // The next frame. ECONNRESET when the peer closed; EPROTO/EMSGSIZE for a frame that breaks
  // the limits (the caller should then close: the stream is out of sync).
  asio::awaitable<Result<frame::Frame>> read();

  void send(kj::Array<capnp::word> frame) { send(std::move(frame), UniqueFd()); }
  void send(capnp::MessageBuilder& message) { send(frame::encode(message)); }
  // As send(frame), with `pass` attached to the frame's first byte (SCM_RIGHTS; unix sockets
  // only): local mode hands the shared region's memfd to the guest this way.
  void send(kj::Array<capnp::word> frame, UniqueFd pass);
  // Waits until a byte can be read and returns the fd attached to it, if any, without consuming
  // the byte (transport.h, peek_passed_fd). Before the first read() only.
  asio::awaitable<Result<UniqueFd>> peek_passed_fd();
  void close();

  const frame::Limits& limits() const { return limits_; }
  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  struct Outgoing {
    kj::Array<capnp::word> frame;
    UniqueFd pass;  // sent with the first byte, then closed
  };
  void write_next();  // io_context thread only
  void write_rest(std::size_t sent);
  void on_written(error_code ec);
  asio::awaitable<Result<std::size_t>> read_exact(void* data, std::size_t size);

  Socket socket_;
  frame::Limits limits_;
  std::deque<Outgoing> queue_;  // io_context thread only
  bool writing_ = false;        // io_context thread only
};

}  // namespace bridge
