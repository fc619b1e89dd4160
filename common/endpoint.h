// Endpoints as the command line names them. Parsing is pure and separate from sockets.
//   guest (--connect): unix:PATH | vsock:CID:PORT | tcp:HOST:PORT
//   host  (--listen):  unix:PATH | vsock:PORT | hybrid:PATH | tcp:HOST:PORT
//                      | vhost-user:PATH[,cid=N][,region=FILE][,region-size=MiB]
// tcp is for loopback debugging only: it has no authentication, so HOST must be a loopback
// address. hybrid:PATH is the Firecracker / cloud-hypervisor convention: guest port P arrives
// on the unix socket PATH_P.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bridge {

struct Endpoint {
  enum class Kind { unix_socket, vsock, tcp, hybrid, vhost_user };
  Kind kind = Kind::unix_socket;
  std::string path;   // unix, hybrid, vhost-user
  std::string host;   // tcp
  uint32_t cid = 0;   // vsock (connect), vhost-user guest CID
  uint32_t port = 0;  // vsock, tcp
  // vhost-user: the file behind QEMU's ivshmem-plain device (empty: no shared region) and its
  // size in MiB (a power of two, as ivshmem requires).
  std::string region_path;
  uint64_t region_mib = 64;

  std::string str() const;
};

Result<Endpoint> parse_connect_endpoint(std::string_view text);
Result<Endpoint> parse_listen_endpoint(std::string_view text);

}  // namespace bridge
