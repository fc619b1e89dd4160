#include "bridge-host/vhost-user/vhost_user_protocol.h"

#include <algorithm>

#include "bridge-host/vhost-user/le.h"

namespace bridge::vhost_user {
namespace {

Error bad(const char* what) {
  return make_error(EINVAL, what);
}

std::vector<uint8_t> reply_header(Request request, uint32_t size) {
  std::vector<uint8_t> out(kHeaderSize + size);
  store_le<uint32_t>(out.data(), static_cast<uint32_t>(request));
  store_le<uint32_t>(out.data() + 4, kVersion | kFlagReply);
  store_le<uint32_t>(out.data() + 8, size);
  return out;
}

}  // namespace

Result<Header> parse_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) return make_error(EBADMSG, "short vhost-user header");
  Header h{load_le<uint32_t>(bytes.data()), load_le<uint32_t>(bytes.data() + 4),
           load_le<uint32_t>(bytes.data() + 8)};
  if ((h.flags & kVersionMask) != kVersion) return make_error(EBADMSG, "vhost-user version");
  if (h.flags & kFlagReply) return make_error(EBADMSG, "vhost-user reply sent to the back-end");
  if (h.size > kMaxPayload) return make_error(EBADMSG, "vhost-user payload too large");
  return h;
}

Result<Message> parse_body(const Header& header, std::span<const uint8_t> payload,
                           std::vector<UniqueFd> fds) {
  if (payload.size() != header.size) return bad("vhost-user payload size differs from header");
  if (fds.size() > kMaxFds) return bad("too many fds");
  Message m;
  m.request = static_cast<Request>(header.request);
  m.flags = header.flags;
  const uint8_t* p = payload.data();
  const std::size_t size = payload.size();
  auto expect = [&](std::size_t want_size, std::size_t want_fds) -> Status {
    if (size != want_size) return bad("vhost-user payload has the wrong size for its request");
    if (fds.size() != want_fds) return bad("vhost-user message has the wrong number of fds");
    return {};
  };

  switch (m.request) {
    case Request::get_features:
    case Request::get_protocol_features:
    case Request::get_queue_num:
    case Request::set_owner:
    case Request::reset_owner: {
      // QEMU sends these with no payload; tolerate the u64 some front-ends add, ignored.
      if (size != 0 && size != 8) return bad("vhost-user payload has the wrong size");
      if (!fds.empty()) return bad("vhost-user message has the wrong number of fds");
      m.payload = NoPayload{};
      break;
    }
    case Request::set_features:
    case Request::set_protocol_features: {
      if (auto s = expect(8, 0); !s) return s.error();
      m.payload = load_le<uint64_t>(p);
      break;
    }
    case Request::set_vring_num:
    case Request::set_vring_base:
    case Request::get_vring_base:
    case Request::set_vring_enable: {
      if (auto s = expect(8, 0); !s) return s.error();
      m.payload = VringState{load_le<uint32_t>(p), load_le<uint32_t>(p + 4)};
      break;
    }
    case Request::set_vring_addr: {
      if (auto s = expect(40, 0); !s) return s.error();
      m.payload = VringAddr{load_le<uint32_t>(p),      load_le<uint32_t>(p + 4),
                            load_le<uint64_t>(p + 8),  load_le<uint64_t>(p + 16),
                            load_le<uint64_t>(p + 24), load_le<uint64_t>(p + 32)};
      break;
    }
    case Request::set_vring_kick:
    case Request::set_vring_call:
    case Request::set_vring_err: {
      if (size != 8) return bad("vhost-user payload has the wrong size for its request");
      const uint64_t v = load_le<uint64_t>(p);
      if (v & ~(kVringIndexMask | kVringNoFd)) return bad("unknown bits in vring file payload");
      VringFile f{static_cast<uint32_t>(v & kVringIndexMask), (v & kVringNoFd) == 0};
      if (fds.size() != (f.has_fd ? 1u : 0u)) return bad("vring file fd count");
      m.payload = f;
      break;
    }
    case Request::set_mem_table: {
      if (size < 8) return bad("short memory table");
      const uint32_t n = load_le<uint32_t>(p);
      if (n == 0 || n > GuestMemory::kMaxRegions) return bad("memory table region count");
      if (auto s = expect(8 + 32 * static_cast<std::size_t>(n), n); !s) return s.error();
      MemoryTable t;
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t* r = p + 8 + 32 * i;
        t.regions.push_back({load_le<uint64_t>(r), load_le<uint64_t>(r + 8),
                             load_le<uint64_t>(r + 16), load_le<uint64_t>(r + 24)});
      }
      m.payload = std::move(t);
      break;
    }
    case Request::get_config: {
      if (size < 12 || !fds.empty()) return bad("short config request");
      ConfigSpace c{load_le<uint32_t>(p), load_le<uint32_t>(p + 4), load_le<uint32_t>(p + 8)};
      if (c.size > kMaxConfigSize || size != 12 + static_cast<std::size_t>(c.size)) {
        return bad("config request size");
      }
      m.payload = c;
      break;
    }
    default:
      // Requests this back-end does not offer a feature for; QEMU does not send them.
      return make_error(ENOSYS, "unsupported vhost-user request " +
                                    std::to_string(static_cast<uint32_t>(header.request)));
  }
  m.fds = std::move(fds);
  return m;
}

std::vector<uint8_t> encode_reply_u64(Request request, uint64_t value) {
  std::vector<uint8_t> out = reply_header(request, 8);
  store_le<uint64_t>(out.data() + kHeaderSize, value);
  return out;
}

std::vector<uint8_t> encode_reply_vring_state(Request request, VringState state) {
  std::vector<uint8_t> out = reply_header(request, 8);
  store_le<uint32_t>(out.data() + kHeaderSize, state.index);
  store_le<uint32_t>(out.data() + kHeaderSize + 4, state.num);
  return out;
}

std::vector<uint8_t> encode_reply_config(const ConfigSpace& request,
                                         std::span<const uint8_t> config) {
  std::vector<uint8_t> out = reply_header(Request::get_config, 12 + request.size);
  uint8_t* p = out.data() + kHeaderSize;
  store_le<uint32_t>(p, request.offset);
  store_le<uint32_t>(p + 4, request.size);
  store_le<uint32_t>(p + 8, request.flags);
  // request.size <= kMaxConfigSize (parse_body); copy what overlaps the config space.
  if (request.offset < config.size()) {
    const std::size_t n = std::min<std::size_t>(request.size, config.size() - request.offset);
    std::copy_n(config.begin() + request.offset, n, p + 12);
  }
  return out;
}

std::array<uint8_t, 8> vsock_config_space(uint64_t guest_cid) {
  std::array<uint8_t, 8> out{};
  store_le<uint64_t>(out.data(), guest_cid);
  return out;
}

}  // namespace bridge::vhost_user
