#include "bridge-guest/dispatcher.h"

#include <spdlog/spdlog.h>

#include "bridge-guest/fs_dispatch.h"
#include "schema/errno_map.h"
#include "schema/frame.h"

namespace bridge::guest {
namespace {

void set_error(wire::Response::Builder response, const Error& error) {
  response.getResult().setError(to_wire_errno(error.code));
  if (!error.context.empty()) response.setMessage(error.context);
}

}  // namespace

Dispatcher::Dispatcher(std::vector<std::unique_ptr<ServedExport>> exports, uint64_t boot_id)
    : exports_(std::move(exports)), boot_id_(boot_id) {}

void Dispatcher::describe(const std::string& guest_name, wire::Hello::Builder hello) const {
  hello.setMajor(wire::PROTOCOL_MAJOR);
  hello.setMinor(wire::PROTOCOL_MINOR);
  hello.setRole(wire::Hello::Role::GUEST);
  hello.setName(guest_name);
  hello.setBootId(boot_id_);
  auto list = hello.initExports(static_cast<unsigned>(exports_.size()));
  for (unsigned i = 0; i < exports_.size(); ++i) {
    const ServedExport& exp = *exports_[i];
    auto out = list[i];
    out.setName(exp.spec().name);
    out.setKind(wire::Export::Kind::FILESYSTEM);
    out.setEngine(std::string(exp.engine().engine_name()));
    out.setReadOnly(exp.engine().read_only());
    out.setCapabilities((1u << static_cast<unsigned>(wire::Export::Capability::XATTR)) |
                        (1u << static_cast<unsigned>(wire::Export::Capability::HARDLINKS)) |
                        (1u << static_cast<unsigned>(wire::Export::Capability::SYMLINKS)));
    out.setNote(exp.engine().note());
  }
}

kj::Array<capnp::word> Dispatcher::handle(wire::Request::Reader request) {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<wire::Message>().initResponse();
  uint64_t id = 0;
  try {
    id = request.getId();
    response.setId(id);
    Status status;
    if (request.getExport() >= exports_.size()) {
      status = make_error(ENODEV, "no export #" + std::to_string(request.getExport()));
    } else {
      status = dispatch_fs(*exports_[request.getExport()], request, response, message);
    }
    if (!status) set_error(response, status.error());
  } catch (const kj::Exception& e) {
    // A malformed request must not take the connection down with it: answer it and go on. A
    // fresh message is used because the half-built one may hold partial results.
    spdlog::warn("request {}: malformed: {}", id, e.getDescription().cStr());
    capnp::MallocMessageBuilder fresh;
    auto r = fresh.initRoot<wire::Message>().initResponse();
    r.setId(id);
    set_error(r, make_error(EPROTO, "malformed request"));
    return frame::encode(fresh);
  }
  return frame::encode(message);
}

kj::Array<capnp::word> Dispatcher::canceled(uint64_t id) {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<wire::Message>().initResponse();
  response.setId(id);
  response.getResult().setError(wire::Errno::CANCELED);
  return frame::encode(message);
}

}  // namespace bridge::guest
