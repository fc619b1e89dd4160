// Passing one file descriptor with a message on a unix socket (SCM_RIGHTS): the shared region's
// memfd travels this way to a local-mode guest and to display clients. Header-only, so
// libbridge_display, which other programs link, needs nothing else from common/.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>

namespace bridge {

// sendmsg() of `bytes` with `fd` attached (fd < 0: none), retried on EINTR. Returns what
// sendmsg returns (-1 and errno on failure).
inline ssize_t sendmsg_fd(int sock, std::span<const std::byte> bytes, int fd, int flags) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    // INVARIANT: SCM_RIGHTS data is an array of ints; the buffer holds exactly one.
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, flags);
  } while (n < 0 && errno == EINTR);
  return n;
}

// recvmsg() into `bytes`, retried on EINTR. `*fd` gets the first descriptor that came with the
// bytes, or -1; any others are closed at once, so a peer cannot make us hoard descriptors.
// `*msg_flags` gets the message's flags (MSG_TRUNC, MSG_CTRUNC). Returns what recvmsg returns.
inline ssize_t recvmsg_fd(int sock, std::span<std::byte> bytes, int flags, int* fd,
                          int* msg_flags = nullptr) {
  iovec iov{bytes.data(), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  *fd = -1;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  if (msg_flags) *msg_flags = msg.msg_flags;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int passed = -1;
      // INVARIANT: SCM_RIGHTS data is an array of ints; memcpy avoids unaligned access.
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      if (*fd < 0) {
        *fd = passed;
      } else {
        ::close(passed);
      }
    }
  }
  return n;
}

}  // namespace bridge
