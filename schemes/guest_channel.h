// What a remote scheme needs from the link to its guest: send a request, get its response.
// bridge-host's GuestLink implements it; schemes never see sockets.
#pragma once

#include <capnp/message.h>

#include <functional>
#include <memory>

#include "common/region_allocator.h"
#include "common/result.h"
#include "common/shared_region.h"
#include "schema/bridge.capnp.h"
#include "schema/frame.h"

namespace bridge {

// The host's side of a guest's shared region: its mapping, and the allocator from which the
// host sets aside every range the guest may touch. Lives as long as the connection that agreed
// on it; holders of leases keep it alive through the shared_ptr.
// The first page is the region's header: it holds the token (RegionInfo.token) and is never
// lent out.
struct GuestRegion {
  SharedRegion mapping;
  RegionAllocator allocator;
  RegionLease header;

  explicit GuestRegion(SharedRegion m);
};

class GuestChannel {
 public:
  using Completion = std::function<void(Result<frame::Frame>)>;

  virtual ~GuestChannel() = default;
  // `message` holds a Message whose request is complete but for its id, which the channel sets.
  // `done` runs exactly once (response, EIO when the guest is lost, ETIMEDOUT, EAGAIN).
  virtual void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) = 0;
  // submit() and wait; bounded by the channel's deadline. Not from the channel's own thread.
  virtual Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) = 0;

  // The shared region both sides agreed on in their hellos; nullptr when there is none (not
  // announced, or the guest could not map it): bulk data then travels inline.
  virtual std::shared_ptr<GuestRegion> region() { return nullptr; }

  // Unsolicited guest events about one export (hotplug, vblank, flipDone). The handler runs on
  // the channel's I/O thread and must not block; one handler per export, replaced on reconnect.
  using EventHandler = std::function<void(wire::Event::Reader event)>;
  virtual void on_event(uint16_t export_index, EventHandler handler) {
    (void)export_index;
    (void)handler;
  }
};

}  // namespace bridge
