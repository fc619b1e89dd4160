#include "common/fd_passing.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "common/unique_fd.h"

namespace bridge {
namespace {

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      a.reset(sv[0]);
      b.reset(sv[1]);
    }
  }
};

TEST(FdPassing, TheFdArrivesWithTheBytes) {
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  UniqueFd memfd(::memfd_create("passed", MFD_CLOEXEC));
  const char text[] = "hello";
  ASSERT_EQ(sendmsg_fd(p.a.get(), std::as_bytes(std::span(text)), memfd.get(), 0),
            static_cast<ssize_t>(sizeof text));
  std::byte got[16];
  int fd = -1;
  ASSERT_EQ(recvmsg_fd(p.b.get(), got, 0, &fd), static_cast<ssize_t>(sizeof text));
  UniqueFd received(fd);
  ASSERT_TRUE(received);
  struct stat want {
  }, have{};
  ASSERT_EQ(::fstat(memfd.get(), &want), 0);
  ASSERT_EQ(::fstat(received.get(), &have), 0);
  EXPECT_EQ(want.st_ino, have.st_ino);
  EXPECT_EQ(std::memcmp(got, text, sizeof text), 0);
}

TEST(FdPassing, NoFdMeansMinusOne) {
  Pair p;
  const char byte = 'x';
  ASSERT_EQ(sendmsg_fd(p.a.get(), std::as_bytes(std::span(&byte, 1)), -1, 0), 1);
  std::byte got[4];
  int fd = 7;
  ASSERT_EQ(recvmsg_fd(p.b.get(), got, 0, &fd), 1);
  EXPECT_EQ(fd, -1);
}

// A hostile sender attaching several descriptors leaves the receiver holding exactly one.
TEST(FdPassing, ExtraFdsAreClosedNotHoarded) {
  Pair p;
  UniqueFd f1(::memfd_create("one", MFD_CLOEXEC)), f2(::memfd_create("two", MFD_CLOEXEC)),
      f3(::memfd_create("three", MFD_CLOEXEC));
  int fds[3] = {f1.get(), f2.get(), f3.get()};
  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(::sendmsg(p.a.get(), &msg, 0), 1);
  const std::size_t before = open_fds();
  std::byte got[4];
  int fd = -1;
  ASSERT_EQ(recvmsg_fd(p.b.get(), got, 0, &fd), 1);
  UniqueFd received(fd);
  EXPECT_TRUE(received);
  EXPECT_EQ(open_fds(), before + 1);
}

}  // namespace
}  // namespace bridge
