#include "bridge-host/vhost-user/fuzz_entry.h"

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "bridge-host/vhost-user/vhost_user_protocol.h"
#include "bridge-host/vhost-user/vsock_mux.h"

namespace bridge::vhost_user {
namespace {

// Echoes what it receives and consumes it at once, so send, credit and shutdown paths run.
class EchoSink : public StreamSink {
 public:
  EchoSink(VsockMux& mux, ConnId id) : mux_(mux), id_(id) {}
  void on_data(std::span<const uint8_t> bytes) override {
    (void)mux_.send(id_, bytes);
    (void)mux_.consumed(id_, static_cast<uint32_t>(bytes.size()));
  }
  void on_peer_shutdown(uint32_t) override { (void)mux_.shutdown(id_); }
  void on_reset() override {}

 private:
  VsockMux& mux_;
  ConnId id_;
};

class EchoHandler : public ConnectionHandler {
 public:
  VsockMux* mux = nullptr;
  std::shared_ptr<StreamSink> on_accept(ConnId id, uint32_t, uint32_t) override {
    return std::make_shared<EchoSink>(*mux, id);
  }
};

}  // namespace

void fuzz_vsock_input(const uint8_t* data, std::size_t size) {
  std::span<const uint8_t> in(data, size);
  if (auto header = parse_header(in); header) {
    (void)parse_body(*header, in.subspan(std::min(in.size(), kHeaderSize)), {});
  }

  EchoHandler handler;
  MuxConfig config;
  config.guest_cid = 3;
  config.buf_alloc = 4096;
  VsockMux mux(config, handler);
  handler.mux = &mux;
  mux.listen(5151);
  while (in.size() >= kVsockHeaderSize) {
    auto h = parse_vsock_header(in);
    in = in.subspan(kVsockHeaderSize);
    std::span<const uint8_t> payload = in.first(std::min<std::size_t>(in.size(), h->len));
    mux.on_packet(*h, payload);
    in = in.subspan(payload.size());
    for (int i = 0; i < 64 && mux.has_output(); ++i) (void)mux.next_packet(512);
  }
  mux.reset_all();
}

}  // namespace bridge::vhost_user
