// Local mode hands the region's memfd over the socket attached to the first byte of the host's
// hello. The receiver peeks at that byte for the fd; the framed reader must then still see the
// whole frame, and the frame after it, byte for byte: nothing is read past a frame.
#include "common/framed_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>

#include "common/shared_region.h"

namespace bridge {
namespace {

kj::Array<capnp::word> hello_frame(const char* name, uint64_t region_size) {
  capnp::MallocMessageBuilder message;
  auto hello = message.initRoot<wire::Message>().initHello();
  hello.setName(name);
  hello.initRegion().setSize(region_size);
  return frame::encode(message);
}

struct Pair {
  std::shared_ptr<FramedStream> sender, receiver;
};

Pair socket_pair(asio::io_context& io) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  asio::generic::stream_protocol unix_stream(AF_UNIX, 0);
  return {std::make_shared<FramedStream>(Socket(io, unix_stream, fds[0])),
          std::make_shared<FramedStream>(Socket(io, unix_stream, fds[1]))};
}

// Runs one awaitable to completion on `io` (Result has no default value, so co_spawn's
// value-returning form does not fit: the result is stored by a void wrapper instead).
template <typename T>
asio::awaitable<void> store(asio::awaitable<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  asio::co_spawn(io, store(std::move(task), out), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.restart();
  io.run();
  return std::move(*out);
}

TEST(FramedStream, PassedFdArrivesAndTheFramesStayWhole) {
  asio::io_context io;
  auto [sender, receiver] = socket_pair(io);
  auto region = SharedRegion::create_memfd(1 << 20, "framed-stream-test");
  ASSERT_TRUE(region.ok());
  std::memcpy(region->slice(0, 6)->data(), "shared", 6);
  sender->send(hello_frame("first", 1 << 20), UniqueFd(::fcntl(region->fd(), F_DUPFD_CLOEXEC, 0)));
  sender->send(hello_frame("second", 0));

  auto passed = run(io, receiver->peek_passed_fd());
  ASSERT_TRUE(passed.ok()) << passed.error().context;
  ASSERT_TRUE(passed->valid());
  auto mapped = SharedRegion::map_fd(std::move(*passed), "received");
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->size(), 1u << 20);
  EXPECT_EQ(std::memcmp(mapped->slice(0, 6)->data(), "shared", 6), 0);  // the same pages

  auto first = run(io, receiver->read());
  ASSERT_TRUE(first.ok()) << first.error().context;
  EXPECT_STREQ(first->message().getHello().getName().cStr(), "first");
  EXPECT_EQ(first->message().getHello().getRegion().getSize(), 1u << 20);
  auto second = run(io, receiver->read());
  ASSERT_TRUE(second.ok()) << second.error().context;
  EXPECT_STREQ(second->message().getHello().getName().cStr(), "second");
}

TEST(FramedStream, PeekWithoutAnFdSaysSoAndConsumesNothing) {
  asio::io_context io;
  auto [sender, receiver] = socket_pair(io);
  sender->send(hello_frame("plain", 0));
  auto passed = run(io, receiver->peek_passed_fd());
  ASSERT_TRUE(passed.ok());
  EXPECT_FALSE(passed->valid());
  auto frame = run(io, receiver->read());
  ASSERT_TRUE(frame.ok());
  EXPECT_STREQ(frame->message().getHello().getName().cStr(), "plain");
}

}  // namespace
}  // namespace bridge
