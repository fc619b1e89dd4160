// A libFuzzer-friendly entry point: arbitrary bytes in, no crash, no leak, no UB out. The bytes
// are read as a stream of guest TX packets (44-byte header, then whatever follows, of which the
// header's len is taken) fed to a VsockMux listening on port 5151, draining its output after
// each; and the same bytes are parsed as one vhost-user message. The fuzz target itself
// (LLVMFuzzerTestOneInput calling this) belongs in tests/fuzz.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bridge::vhost_user {

void fuzz_vsock_input(const uint8_t* data, std::size_t size);

}  // namespace bridge::vhost_user
