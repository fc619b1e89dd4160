// Passes a wire request through to the guest that serves a scheme, unchanged but for its id and
// export index. The control socket uses it: bridgectl speaks the wire protocol itself, and the
// host only routes (and still validates every frame it reads).
#pragma once

#include <functional>

#include "common/result.h"
#include "schema/bridge.capnp.h"
#include "schema/frame.h"

namespace bridge {

class RequestForwarder {
 public:
  // Called exactly once with the guest's response frame, or an error (EIO when the guest is
  // lost, ETIMEDOUT when it does not answer in time).
  using Completion = std::function<void(Result<frame::Frame>)>;

  virtual ~RequestForwarder() = default;
  virtual void forward(wire::Request::Reader request, Completion done) = 0;
};

}  // namespace bridge
