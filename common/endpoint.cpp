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

Status vhost_user_option(Endpoint& ep, std::string_view opt, std::string_view text) {
  if (opt.starts_with("cid=")) {
    auto cid = parse_u32(opt.substr(4), "guest cid");
    if (!cid) return cid.error();
    if (*cid < 3) return make_error(EINVAL, "guest cid must be 3 or more (0-2 are reserved)");
    ep.cid = *cid;
  } else if (opt.starts_with("region=")) {
    ep.region_path = std::string(opt.substr(7));
    if (ep.region_path.empty()) return make_error(EINVAL, "region= names no file");
  } else if (opt.starts_with("region-size=")) {
    auto mib = parse_u32(opt.substr(12), "region size (MiB)");
    if (!mib) return mib.error();
    // ivshmem-plain refuses sizes that are not a power of two.
    if (*mib == 0 || (*mib & (*mib - 1)) != 0 || *mib > 16384)
      return make_error(EINVAL, "region-size must be a power of two from 1 to 16384 MiB");
    ep.region_mib = *mib;
  } else {
    return make_error(EINVAL, "'" + std::string(text) +
                                  "': known options are cid=N, region=FILE, region-size=MiB");
  }
  return {};
}

Result<Endpoint> parse_vhost_user(std::string_view rest, std::string_view text) {
  auto comma = rest.find(',');
  auto ep = unix_like(Endpoint::Kind::vhost_user, rest.substr(0, comma), text);
  if (!ep) return ep;
  ep->cid = 3;
  while (comma != std::string_view::npos) {
    rest = rest.substr(comma + 1);
    comma = rest.find(',');
    if (auto st = vhost_user_option(*ep, rest.substr(0, comma), text); !st) return st.error();
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
      return "vhost-user:" + path + ",cid=" + std::to_string(cid) +
             (region_path.empty()
                  ? ""
                  : ",region=" + region_path + ",region-size=" + std::to_string(region_mib));
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
    Endpoint ep;
    ep.kind = Endpoint::Kind::vsock;
    ep.cid = *cid;
    ep.port = *port;
    return ep;
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
    Endpoint ep;
    ep.kind = Endpoint::Kind::vsock;
    ep.port = *port;
    return ep;
  }
  return make_error(EINVAL, "unknown listen endpoint '" + std::string(text) +
                                "': use unix:PATH, vsock:PORT, hybrid:PATH, vhost-user:PATH or "
                                "tcp:127.0.0.1:PORT");
}

}  // namespace bridge
