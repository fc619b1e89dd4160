// One display client connection: decodes its packets (client/display_protocol.h), checks them,
// calls the display scheme, and sends the reply. The client is not trusted: short, long or
// unknown packets get an EPROTO reply and the connection stays usable; buffer indices and
// rectangles are checked again by the scheme. Destroying the session detaches its owner, so a
// client that dies mid-frame frees the display.
//
// Threading: handle() runs on the connection's own thread; hotplug events are sent from the
// guest link's I/O thread. SOCK_SEQPACKET sends are atomic per packet, so the two never
// interleave bytes; the event send never blocks (a client that does not read loses events).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "client/display_protocol.h"
#include "common/result.h"
#include "schemes/remote_display_scheme.h"
#include "schemes/scheme_registry.h"

namespace bridge::host {

class DisplaySession {
 public:
  DisplaySession(SchemeRegistry& registry, std::string scheme, uint64_t owner_id, pid_t pid,
                 int sock);
  ~DisplaySession();
  DisplaySession(const DisplaySession&) = delete;
  DisplaySession& operator=(const DisplaySession&) = delete;

  // Handles one packet from the client and sends its reply.
  void handle(std::span<const std::byte> packet);

 private:
  void reply(uint32_t request, const Error* error, std::span<const std::byte> payload, int fd);
  std::shared_ptr<RemoteDisplayScheme> scheme(Error& error);
  void on_info(uint32_t type, display::Reader& in);
  void on_attach(uint32_t type, display::Reader& in);
  void on_rects(uint32_t type, display::Reader& in, bool flip);
  void on_cursor(uint32_t type, display::Reader& in, bool set);
  void on_detach(uint32_t type, display::Reader& in);
  void done(uint32_t type, const Status& status);

  SchemeRegistry& registry_;
  std::string name_;
  Owner owner_;
  int sock_;  // borrowed: the frontend owns the socket and outlives the session
  std::shared_ptr<RemoteDisplayScheme> attached_;   // the scheme this client owns, if any
  std::shared_ptr<RemoteDisplayScheme> listening_;  // where the hotplug listener is
  uint64_t listener_ = 0;
};

}  // namespace bridge::host
