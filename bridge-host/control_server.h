// The control socket that bridgectl talks to. It speaks the same framed protocol: bridgectl says
// hello with role `control`, the host answers with every scheme it knows (online or not) as its
// exports, and then forwards each request to the guest serving the addressed scheme. Only the
// request id and export index are rewritten; the guest validates the rest as always.
//
// The socket is created mode 0600: whoever can use it can read and write every export.
#pragma once

#include <memory>

#include "common/asio.h"
#include "common/framed_stream.h"
#include "common/transport.h"
#include "schemes/scheme_registry.h"

namespace bridge::host {

class ControlServer {
 public:
  ControlServer(SchemeRegistry& registry, std::string host_name)
      : registry_(registry), host_name_(std::move(host_name)) {}

  // Serves one bridgectl connection until it closes.
  asio::awaitable<void> serve(std::shared_ptr<FramedStream> stream);

 private:
  asio::awaitable<Result<std::vector<std::string>>> exchange_hello(FramedStream& stream);
  void forward(const std::vector<std::string>& names, frame::Frame frame,
               const std::shared_ptr<FramedStream>& stream);

  SchemeRegistry& registry_;
  std::string host_name_;
};

}  // namespace bridge::host
