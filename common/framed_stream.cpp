#include "common/framed_stream.h"

#include <array>
#include <cstring>

namespace bridge {

FramedStream::FramedStream(Socket socket, frame::Limits limits)
    : socket_(std::move(socket)), limits_(limits) {}

asio::awaitable<Result<std::size_t>> FramedStream::read_exact(void* data, std::size_t size) {
  error_code ec;
  std::size_t n = co_await asio::async_read(socket_, asio::buffer(data, size),
                                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec == asio::error::eof || ec == asio::error::connection_reset)
    co_return make_error(ECONNRESET, "peer closed the connection");
  if (ec) co_return make_error(ec.value(), "read failed: " + ec.message());
  co_return n;
}

asio::awaitable<Result<frame::Frame>> FramedStream::read() {
  // The segment table is at most (1 + SEGMENTS_MAX) u32s rounded to a word, so it needs no heap
  // allocation per frame; table_bytes() enforces the bound before anything more is read.
  std::array<std::byte, ((1 + wire::SEGMENTS_MAX) * 4 + 7) & ~7u> table_buf;
  if (auto r = co_await read_exact(table_buf.data(), 8); !r) co_return r.error();
  auto table_size = frame::table_bytes(std::span<const std::byte, 8>(table_buf.data(), 8), limits_);
  if (!table_size) co_return table_size.error();
  if (*table_size > table_buf.size()) co_return make_error(EPROTO, "segment table above the cap");
  if (*table_size > 8) {
    auto r = co_await read_exact(table_buf.data() + 8, *table_size - 8);
    if (!r) co_return r.error();
  }
  std::span<const std::byte> table(table_buf.data(), *table_size);
  auto layout = frame::parse_table(table, limits_);
  if (!layout) co_return layout.error();

  // Allocation happens only now, bounded by limits_.max_bytes through parse_table.
  auto words = kj::heapArray<capnp::word>(layout->total_bytes() / sizeof(capnp::word));
  auto* bytes = reinterpret_cast<std::byte*>(words.begin());  // INVARIANT: words are plain bytes
  std::memcpy(bytes, table.data(), table.size());
  if (auto r = co_await read_exact(bytes + table.size(), layout->body_bytes); !r)
    co_return r.error();
  try {
    co_return frame::Frame(std::move(words), limits_);
  } catch (const kj::Exception& e) {
    co_return make_error(EPROTO, std::string("malformed frame: ") + e.getDescription().cStr());
  }
}

asio::awaitable<Result<UniqueFd>> FramedStream::peek_passed_fd() {
  error_code ec;
  co_await socket_.async_wait(asio::socket_base::wait_read,
                              asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return make_error(ec.value(), "waiting for the peer's first bytes: " + ec.message());
  co_return bridge::peek_passed_fd(socket_);
}

void FramedStream::send(kj::Array<capnp::word> frame, UniqueFd pass) {
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), f = std::move(frame), p = std::move(pass)]() mutable {
               if (!self->socket_.is_open()) return;
               self->queue_.push_back({std::move(f), std::move(p)});
               if (!self->writing_) self->write_next();
             });
}

void FramedStream::write_next() {
  if (queue_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  auto& front = queue_.front();
  if (!front.pass) return write_rest(0);
  auto bytes = front.frame.asBytes();
  // INVARIANT: capnp bytes and std::byte are both plain bytes.
  auto sent = send_with_fd(
      socket_, {reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()}, front.pass.get());
  if (!sent && (sent.code() == EAGAIN || sent.code() == EWOULDBLOCK)) {
    socket_.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](error_code ec) {
      if (ec) return self->on_written(ec);
      self->write_next();
    });
    return;
  }
  if (!sent) return on_written(error_code(sent.code(), boost::system::system_category()));
  front.pass.reset();  // the kernel holds its own reference now
  write_rest(*sent);
}

void FramedStream::write_rest(std::size_t sent) {
  auto bytes = queue_.front().frame.asBytes();
  asio::async_write(
      socket_, asio::buffer(bytes.begin() + sent, bytes.size() - sent),
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_written(ec); });
}

void FramedStream::on_written(error_code ec) {
  queue_.pop_front();
  if (ec) {
    queue_.clear();
    writing_ = false;
    error_code ignored;
    socket_.close(ignored);
    return;
  }
  write_next();
}

void FramedStream::close() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    error_code ignored;
    self->socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    // Queued frames are dropped by the aborted write's completion, which still owns the
    // buffer in flight.
    self->socket_.close(ignored);
  });
}

}  // namespace bridge
