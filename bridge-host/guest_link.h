// One connected guest, seen from the host: the hello exchange, the table of requests in flight,
// and the read loop that matches responses to them.
//
// Trust: everything the guest sends is hostile. Frames are size-checked before allocation
// (FramedStream), messages are read under try/catch, responses for ids we did not send are
// dropped, the number of requests in flight is bounded, and every request has a deadline. A
// guest that goes away turns all its requests in flight into EIO at once.
//
// Threading: run() and the read loop live on the host's io_context (one thread). submit() and
// call() may be used from any thread except that one (call() blocks).
#pragma once

#include <capnp/message.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/asio.h"
#include "common/framed_stream.h"
#include "schemes/guest_channel.h"
#include "schemes/scheme_registry.h"

namespace bridge::host {

struct LinkOptions {
  std::string host_name = "host";
  std::chrono::milliseconds call_timeout{30000};
  std::chrono::milliseconds hello_timeout{10000};
  std::size_t max_inflight = 1024;
};

// The shared region the host offers one connection (schema/bridge.capnp, "Bulk data"). The host
// announces its size in its hello; the link uses it only when the guest's hello announces the
// same size (the guest mapped it), otherwise bulk data travels inline.
struct RegionOffer {
  std::shared_ptr<GuestRegion> region;  // nullptr: no region for this connection
  // Local mode: attach the mapping's fd to the hello (SCM_RIGHTS). A VM maps it as a PCI BAR.
  bool pass_fd = false;
};

class GuestLink : public GuestChannel, public std::enable_shared_from_this<GuestLink> {
 public:
  GuestLink(std::shared_ptr<FramedStream> stream, SchemeRegistry& registry, LinkOptions options,
            std::string peer, RegionOffer offer = {});

  // Hello, scheme registration, then responses until the guest goes. Always ends by failing
  // what is in flight and marking this guest's schemes offline.
  asio::awaitable<void> run();
  void close() { stream_->close(); }

  // `message` holds a Message whose request is complete but for its id. `done` runs exactly
  // once: with the response, or EIO (link lost), ETIMEDOUT (deadline), EAGAIN (too many in
  // flight). Thread-safe.
  void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) override;
  // submit() and wait. Not on the io_context thread.
  Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) override;

  // The region both hellos agreed on, or nullptr. Fixed before any scheme of this link exists.
  std::shared_ptr<GuestRegion> region() override { return region_; }
  // Guest events name their export by index; display schemes register here for theirs. Events
  // for an index nobody registered (a filesystem export, an unknown index) are dropped.
  void on_event(uint16_t export_index, EventHandler handler) override;

  const std::string& guest_name() const { return guest_name_; }
  uint64_t boot_id() const { return boot_id_; }

 private:
  struct Pending {
    Completion done;
    std::chrono::steady_clock::time_point deadline;
  };

  asio::awaitable<Status> exchange_hello();
  Status accept_hello(wire::Hello::Reader hello);
  void agree_on_region(uint64_t guest_size, uint64_t guest_token);
  void register_exports(capnp::List<wire::Export>::Reader exports);
  void register_display(wire::Export::Reader exp, unsigned index);
  asio::awaitable<Status> read_loop();
  Status on_message(frame::Frame frame);
  void dispatch_event(wire::Event::Reader event);
  void complete(uint64_t id, Result<frame::Frame> result);
  // Fails requests past their deadline (ETIMEDOUT) and tells the guest to drop them.
  static asio::awaitable<void> watch(std::shared_ptr<GuestLink> self);
  asio::awaitable<void> watchdog();
  void fail_all(const Error& error);

  std::shared_ptr<FramedStream> stream_;
  SchemeRegistry& registry_;
  LinkOptions options_;
  std::string peer_;
  std::string guest_name_;  // set by the hello, before any request can be submitted
  uint64_t boot_id_ = 0;
  RegionOffer offer_;
  std::shared_ptr<GuestRegion> region_;  // set by the hello, before any request

  std::mutex mu_;  // guards pending_, next_id_ and closed_; leaf lock (completions run unlocked)
  std::unordered_map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  bool closed_ = false;

  std::mutex events_mu_;  // guards handlers_; leaf lock, released before a handler runs
  std::unordered_map<uint16_t, EventHandler> handlers_;
};

}  // namespace bridge::host
