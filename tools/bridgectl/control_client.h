// bridgectl's side of the control socket: a blocking GuestChannel. Handing it to a
// RemoteFsScheme gives bridgectl the same typed, validated operations the host's frontends use.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/fs_types.h"
#include "common/unique_fd.h"
#include "schemes/guest_channel.h"
#include "schemes/scheme_registry.h"

namespace bridge::ctl {

class ControlClient : public GuestChannel {
 public:
  // Connects and says hello. Errors name the socket and suggest starting bridge-host.
  static Result<std::unique_ptr<ControlClient>> connect(const std::string& path);

  explicit ControlClient(UniqueFd fd) : fd_(std::move(fd)) {}

  const std::vector<SchemeInfo>& schemes() const { return schemes_; }
  const std::string& host_name() const { return host_name_; }
  // Index of `scheme` in the host's list, as requests address it.
  Result<uint16_t> index_of(std::string_view scheme) const;

  void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) override;
  Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) override;

 private:
  Status send(capnp::MessageBuilder& message);
  Result<frame::Frame> receive();
  Status read_hello();

  UniqueFd fd_;
  std::vector<std::byte> buffer_;  // bytes read but not yet decoded
  std::vector<SchemeInfo> schemes_;
  std::string host_name_;
  uint64_t next_id_ = 1;
};

}  // namespace bridge::ctl
