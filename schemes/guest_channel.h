// What a remote scheme needs from the link to its guest: send a request, get its response.
// bridge-host's GuestLink implements it; schemes never see sockets.
#pragma once

#include <capnp/message.h>

#include <functional>
#include <memory>

#include "common/result.h"
#include "schema/frame.h"

namespace bridge {

class GuestChannel {
 public:
  using Completion = std::function<void(Result<frame::Frame>)>;

  virtual ~GuestChannel() = default;
  // `message` holds a Message whose request is complete but for its id, which the channel sets.
  // `done` runs exactly once (response, EIO when the guest is lost, ETIMEDOUT, EAGAIN).
  virtual void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) = 0;
  // submit() and wait; bounded by the channel's deadline. Not from the channel's own thread.
  virtual Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) = 0;
};

}  // namespace bridge
