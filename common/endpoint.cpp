#include "common/endpoint.h"

#include <charconv>

namespace bridge {
namespace {

constexpr uint32_t kVsockHostCid = 2;

Result<uint32_t> parse_u32(std::string_view text, std::string_view what) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return make_error(EINVAL, std::string(what) + " '" + std::string(text) + "' is not a number");
  return value;
}

Result<Endpoint> unix_like(Endpoint::Kind kind, std::string_view path, std::string_view text) {
  if (path.empty()) return make_error(EINVAL, "'" + std::string(text) + "' names no socket path");
  if (path.size() >= 108)
    return make_error(ENAMETOOLONG, "socket path '" + std::string(path) +
                                        "' is longer than a unix socket allows (107 bytes)");
  Endpoint ep;
  ep.kind = kind;
  ep.path = std::string(path);
  return ep;
}

Result<Endpoint> parse_tcp(std::string_view rest, std::string_view text) {
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos)
    return make_error(EINVAL, "'" + std::string(text) + "': expected tcp:HOST:PORT");
  Endpoint ep;
  ep.kind = Endpoint::Kind::tcp;
  ep.host = std::string(rest.substr(0, colon));
  auto port = parse_u32(rest.substr(colon + 1), "tcp port");
  if (!port) return port.error();
  ep.port = *port;
  if (ep.host != "127.0.0.1" && ep.host != "::1" && ep.host != "localhost")
    return make_error(EINVAL,
                      "tcp endpoints are for loopback debugging only (no authentication): "
                      "use 127.0.0.1, not '" +
                          ep.host + "'");
  if (ep.host == "localhost") ep.host = "127.0.0.1";
  return ep;
}

Result<Endpoint> parse_vhost_user(std::string_view rest, std::string_view text) {
  auto comma = rest.find(',');
  auto ep = unix_like(Endpoint::Kind::vhost_user, rest.substr(0, comma), text);
  if (!ep) return ep;
  ep->cid = 3;
  if (comma != std::string_view::npos) {
    auto opt = rest.substr(comma + 1);
    if (!opt.starts_with("cid="))
      return make_error(EINVAL, "'" + std::string(text) + "': only the option cid=N is known");
    auto cid = parse_u32(opt.substr(4), "guest cid");
    if (!cid) return cid.error();
    if (*cid < 3) return make_error(EINVAL, "guest cid must be 3 or more (0-2 are reserved)");
    ep->cid = *cid;
  }
  return ep;
}

std::string_view after(std::string_view text, std::string_view prefix) {
  return text.substr(prefix.size());
}

}  // namespace

std::string Endpoint::str() const {
  switch (kind) {
    case Kind::unix_socket:
      return "unix:" + path;
    case Kind::hybrid:
      return "hybrid:" + path;
    case Kind::vhost_user:
      return "vhost-user:" + path + ",cid=" + std::to_string(cid);
    case Kind::tcp:
      return "tcp:" + host + ":" + std::to_string(port);
    case Kind::vsock:
      return cid ? "vsock:" + std::to_string(cid) + ":" + std::to_string(port)
                 : "vsock:" + std::to_string(port);
  }
  return "?";
}

Result<Endpoint> parse_connect_endpoint(std::string_view text) {
  if (text.starts_with("unix:"))
    return unix_like(Endpoint::Kind::unix_socket, after(text, "unix:"), text);
  if (text.starts_with("tcp:")) return parse_tcp(after(text, "tcp:"), text);
  if (text.starts_with("vsock:")) {
    auto rest = after(text, "vsock:");
    auto colon = rest.find(':');
    if (colon == std::string_view::npos)
      return make_error(EINVAL,
                        "'" + std::string(text) + "': expected vsock:CID:PORT (the host is CID 2)");
    auto cid = parse_u32(rest.substr(0, colon), "vsock cid");
    if (!cid) return cid.error();
    auto port = parse_u32(rest.substr(colon + 1), "vsock port");
    if (!port) return port.error();
    return Endpoint{Endpoint::Kind::vsock, {}, {}, *cid, *port};
  }
  return make_error(EINVAL, "unknown endpoint '" + std::string(text) +
                                "': use unix:PATH, vsock:CID:PORT (host is CID " +
                                std::to_string(kVsockHostCid) + ") or tcp:127.0.0.1:PORT");
}

Result<Endpoint> parse_listen_endpoint(std::string_view text) {
  if (text.starts_with("unix:"))
    return unix_like(Endpoint::Kind::unix_socket, after(text, "unix:"), text);
  if (text.starts_with("hybrid:"))
    return unix_like(Endpoint::Kind::hybrid, after(text, "hybrid:"), text);
  if (text.starts_with("vhost-user:")) return parse_vhost_user(after(text, "vhost-user:"), text);
  if (text.starts_with("tcp:")) return parse_tcp(after(text, "tcp:"), text);
  if (text.starts_with("vsock:")) {
    auto port = parse_u32(after(text, "vsock:"), "vsock port");
    if (!port) return port.error();
    return Endpoint{Endpoint::Kind::vsock, {}, {}, 0, *port};
  }
  return make_error(EINVAL, "unknown listen endpoint '" + std::string(text) +
                                "': use unix:PATH, vsock:PORT, hybrid:PATH, vhost-user:PATH or "
                                "tcp:127.0.0.1:PORT");
}

}  // namespace bridge
