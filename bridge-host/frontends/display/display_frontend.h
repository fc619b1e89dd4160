// The display frontend for Linux hosts: one unix socket per display scheme at
// `<dir>/<scheme>.sock` (e.g. /run/redox-bridge/display.bochs.sock, mode 0660), speaking the
// client protocol of client/display_protocol.h. Sockets appear when the registry announces a
// display scheme and stay while bridge-host runs; a scheme whose guest is gone answers ENODEV.
//
// Threading: one accept thread per socket and one thread per client connection, because every
// client request blocks on a guest answer (which the io_context thread delivers, so it must not
// run there). stop() wakes them all with shutdown() and joins them.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "schemes/scheme_registry.h"

namespace bridge::host {

struct DisplayFrontendOptions {
  std::string dir = "/run/redox-bridge";
};

class DisplayFrontend {
 public:
  DisplayFrontend(SchemeRegistry& registry, DisplayFrontendOptions options);
  ~DisplayFrontend();
  DisplayFrontend(const DisplayFrontend&) = delete;
  DisplayFrontend& operator=(const DisplayFrontend&) = delete;

  // Opens the socket for display scheme `scheme` unless it is open already.
  Status serve(const std::string& scheme);
  // Listens to the registry: every display scheme put there gets its socket.
  void attach_to_registry();
  void stop();

  std::string socket_path(const std::string& scheme) const;

 private:
  struct Server {
    std::string scheme;
    std::string path;
    UniqueFd listen;
    std::thread accept;
  };
  struct Connection {
    UniqueFd sock;
    std::thread thread;
    std::atomic<bool> finished = false;
  };

  void accept_loop(Server& server);
  void serve_client(const std::string& scheme, Connection& conn);
  void reap_finished();  // mu_ held

  SchemeRegistry& registry_;
  DisplayFrontendOptions options_;
  std::atomic<uint64_t> next_owner_ = 1;
  std::mutex mu_;  // guards servers_, connections_, stopping_
  std::vector<std::unique_ptr<Server>> servers_;
  std::list<std::unique_ptr<Connection>> connections_;
  bool stopping_ = false;
};

}  // namespace bridge::host
