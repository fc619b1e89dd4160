// Fuzzes what a hostile guest driver controls in the vhost-user-vsock device: vsock packets
// (header and payload) through the connection multiplexer, and vhost-user control messages.
#include <cstddef>
#include <cstdint>

#include "bridge-host/vhost-user/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bridge::vhost_user::fuzz_vsock_input(data, size);
  return 0;
}
