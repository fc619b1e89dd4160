#include "bridge-host/vhost-user/vhost_user_protocol.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <vector>

#include "bridge-host/vhost-user/le.h"

namespace bridge::vhost_user {
namespace {

// A message as QEMU would write it: header then payload.
struct Wire {
  std::vector<uint8_t> header = std::vector<uint8_t>(kHeaderSize);
  std::vector<uint8_t> payload;
  Wire(Request r, std::size_t size, uint32_t flags = kVersion) : payload(size) {
    store_le<uint32_t>(header.data(), static_cast<uint32_t>(r));
    store_le<uint32_t>(header.data() + 4, flags);
    store_le<uint32_t>(header.data() + 8, static_cast<uint32_t>(size));
  }
  template <typename T>
  Wire& put(std::size_t off, T v) {
    store_le<T>(payload.data() + off, v);
    return *this;
  }
  Result<Message> parse(std::vector<UniqueFd> fds = {}) const {
    auto h = parse_header(header);
    if (!h) return h.error();
    return parse_body(*h, payload, std::move(fds));
  }
};

std::vector<UniqueFd> eventfds(int n) {
  std::vector<UniqueFd> fds;
  for (int i = 0; i < n; ++i) fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  return fds;
}

TEST(VhostUserHeader, VersionReplyAndSizeAreChecked) {
  EXPECT_TRUE(Wire(Request::set_owner, 0).parse().ok());
  EXPECT_EQ(Wire(Request::set_owner, 0, 0).parse().code(), EBADMSG);  // version 0
  EXPECT_EQ(Wire(Request::set_owner, 0, 2).parse().code(), EBADMSG);  // version 2
  EXPECT_EQ(Wire(Request::set_owner, 0, kVersion | kFlagReply).parse().code(), EBADMSG);
  EXPECT_EQ(Wire(Request::set_owner, kMaxPayload + 1).parse().code(), EBADMSG);
  EXPECT_FALSE(parse_header(std::vector<uint8_t>(11)).ok());
  auto need = Wire(Request::set_owner, 0, kVersion | kFlagNeedReply).parse();
  ASSERT_TRUE(need.ok());
  EXPECT_TRUE(need->need_reply());
}

TEST(VhostUserBody, PayloadMustMatchTheHeader) {
  Wire w(Request::set_features, 8);
  auto h = parse_header(w.header);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(parse_body(*h, std::span(w.payload).first(7), {}).ok());
}

TEST(VhostUserBody, FeaturesAndVringMessages) {
  auto f = Wire(Request::set_features, 8).put<uint64_t>(0, kFeatureVersion1).parse();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::get<uint64_t>(f->payload), kFeatureVersion1);
  EXPECT_FALSE(Wire(Request::set_features, 4).parse().ok());
  EXPECT_FALSE(Wire(Request::set_features, 16).parse().ok());
  EXPECT_FALSE(Wire(Request::set_protocol_features, 0).parse().ok());

  auto num = Wire(Request::set_vring_num, 8).put<uint32_t>(0, 1).put<uint32_t>(4, 256).parse();
  ASSERT_TRUE(num.ok());
  EXPECT_EQ(std::get<VringState>(num->payload).index, 1u);
  EXPECT_EQ(std::get<VringState>(num->payload).num, 256u);
  EXPECT_FALSE(Wire(Request::get_vring_base, 12).parse().ok());
  EXPECT_FALSE(Wire(Request::set_vring_enable, 8).parse(eventfds(1)).ok());  // no fds here

  auto addr = Wire(Request::set_vring_addr, 40)
                  .put<uint32_t>(0, 1)
                  .put<uint64_t>(8, 0x1000)
                  .put<uint64_t>(16, 0x3000)
                  .put<uint64_t>(24, 0x2000)
                  .parse();
  ASSERT_TRUE(addr.ok());
  const auto& a = std::get<VringAddr>(addr->payload);
  EXPECT_EQ(a.desc, 0x1000u);
  EXPECT_EQ(a.used, 0x3000u);
  EXPECT_EQ(a.avail, 0x2000u);
  EXPECT_FALSE(Wire(Request::set_vring_addr, 39).parse().ok());
  EXPECT_FALSE(Wire(Request::set_vring_addr, 41).parse().ok());
}

TEST(VhostUserBody, VringFilesCarryExactlyTheirFd) {
  auto kick = Wire(Request::set_vring_kick, 8).put<uint64_t>(0, 1).parse(eventfds(1));
  ASSERT_TRUE(kick.ok());
  EXPECT_EQ(std::get<VringFile>(kick->payload).index, 1u);
  EXPECT_TRUE(std::get<VringFile>(kick->payload).has_fd);
  EXPECT_EQ(kick->fds.size(), 1u);
  EXPECT_FALSE(Wire(Request::set_vring_call, 8).put<uint64_t>(0, 0).parse().ok());  // fd missing
  EXPECT_FALSE(Wire(Request::set_vring_call, 8).parse(eventfds(2)).ok());           // one too many
  auto nofd = Wire(Request::set_vring_err, 8).put<uint64_t>(0, kVringNoFd | 1).parse();
  ASSERT_TRUE(nofd.ok());
  EXPECT_FALSE(std::get<VringFile>(nofd->payload).has_fd);
  EXPECT_FALSE(
      Wire(Request::set_vring_kick, 8).put<uint64_t>(0, kVringNoFd).parse(eventfds(1)).ok());
  EXPECT_FALSE(Wire(Request::set_vring_kick, 8).put<uint64_t>(0, 0x200).parse(eventfds(1)).ok());
}

TEST(VhostUserBody, MemoryTableSizeAndFdsMustAgree) {
  auto table = [](uint32_t n, std::size_t size) {
    Wire w(Request::set_mem_table, size);
    w.put<uint32_t>(0, n);
    for (uint32_t i = 0; i < n && 8 + 32 * (i + 1) <= size; ++i) {
      w.put<uint64_t>(8 + 32 * i, 0x100000ull * i)
          .put<uint64_t>(16 + 32 * i, 0x1000)
          .put<uint64_t>(24 + 32 * i, 0x7f0000000000ull + 0x100000ull * i)
          .put<uint64_t>(32 + 32 * i, 0);
    }
    return w;
  };
  auto ok = table(2, 8 + 64).parse(eventfds(2));
  ASSERT_TRUE(ok.ok());
  const auto& t = std::get<MemoryTable>(ok->payload);
  ASSERT_EQ(t.regions.size(), 2u);
  EXPECT_EQ(t.regions[1].guest_phys_addr, 0x100000u);
  EXPECT_EQ(t.regions[1].userspace_addr, 0x7f0000100000u);
  EXPECT_EQ(ok->fds.size(), 2u);

  EXPECT_FALSE(table(2, 8 + 64).parse(eventfds(1)).ok());      // too few fds
  EXPECT_FALSE(table(2, 8 + 64).parse(eventfds(3)).ok());      // too many fds
  EXPECT_FALSE(table(2, 8 + 63).parse(eventfds(2)).ok());      // short
  EXPECT_FALSE(table(2, 8 + 96).parse(eventfds(2)).ok());      // long
  EXPECT_FALSE(table(0, 8).parse().ok());                      // empty
  EXPECT_FALSE(table(9, 8 + 32 * 9).parse(eventfds(8)).ok());  // more regions than allowed
  EXPECT_FALSE(table(1, 4).parse(eventfds(1)).ok());           // not even the count
  EXPECT_FALSE(Wire(Request::set_owner, 0).parse(eventfds(kMaxFds + 1)).ok());
}

TEST(VhostUserBody, GetConfigAndItsReply) {
  auto req = Wire(Request::get_config, 12 + 8).put<uint32_t>(0, 0).put<uint32_t>(4, 8).parse();
  ASSERT_TRUE(req.ok());
  const auto& c = std::get<ConfigSpace>(req->payload);
  EXPECT_EQ(c.size, 8u);
  EXPECT_FALSE(Wire(Request::get_config, 12 + 7).put<uint32_t>(4, 8).parse().ok());
  EXPECT_FALSE(Wire(Request::get_config, 12 + 300).put<uint32_t>(4, 300).parse().ok());
  EXPECT_FALSE(Wire(Request::get_config, 8).parse().ok());

  auto space = vsock_config_space(0x1122334455667788);
  auto reply = encode_reply_config(c, space);
  ASSERT_EQ(reply.size(), kHeaderSize + 20);
  EXPECT_EQ(load_le<uint32_t>(reply.data()), static_cast<uint32_t>(Request::get_config));
  EXPECT_EQ(load_le<uint32_t>(reply.data() + 4), kVersion | kFlagReply);
  EXPECT_EQ(load_le<uint32_t>(reply.data() + 8), 20u);
  EXPECT_EQ(load_le<uint64_t>(reply.data() + kHeaderSize + 12), 0x1122334455667788u);

  // A window past the config space reads zeros, never out of bounds.
  auto past = encode_reply_config({6, 8, 0}, space);
  EXPECT_EQ(past[kHeaderSize + 12], 0x22);
  EXPECT_EQ(past[kHeaderSize + 13], 0x11);
  EXPECT_EQ(past[kHeaderSize + 14], 0);
  auto far = encode_reply_config({0xffffffff, 8, 0}, space);
  EXPECT_EQ(far.size(), kHeaderSize + 20);
}

TEST(VhostUserBody, RepliesAndUnknownRequests) {
  auto r = encode_reply_u64(Request::get_features, kFeatureVersion1 | kFeatureProtocolFeatures);
  ASSERT_EQ(r.size(), kHeaderSize + 8);
  EXPECT_EQ(load_le<uint64_t>(r.data() + kHeaderSize), kFeatureVersion1 | kFeatureProtocolFeatures);
  auto s = encode_reply_vring_state(Request::get_vring_base, {1, 77});
  EXPECT_EQ(load_le<uint32_t>(s.data() + kHeaderSize + 4), 77u);
  EXPECT_TRUE(Wire(Request::get_features, 0).parse().ok());
  EXPECT_TRUE(Wire(Request::get_queue_num, 0).parse().ok());
  EXPECT_FALSE(Wire(Request::get_features, 3).parse().ok());
  EXPECT_EQ(Wire(static_cast<Request>(6), 8).parse().code(), ENOSYS);  // SET_LOG_BASE
  EXPECT_EQ(Wire(static_cast<Request>(0xdead), 0).parse().code(), ENOSYS);
}

}  // namespace
}  // namespace bridge::vhost_user
