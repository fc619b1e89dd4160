#include "bridge-guest/dispatcher.h"

#include <spdlog/spdlog.h>

#include "bridge-guest/fs_dispatch.h"
#include "schema/errno_map.h"
#include "schema/frame.h"

namespace bridge::guest {
namespace {

uint64_t capability(wire::Export::Capability c) {
  return uint64_t{1} << static_cast<unsigned>(c);
}

void set_error(wire::Response::Builder response, const Error& error) {
  response.getResult().setError(to_wire_errno(error.code));
  if (!error.context.empty()) response.setMessage(error.context);
}

// Display exports take display requests (and ping); everything else is a filesystem's.
Status dispatch(ServedExport& exp, wire::Request::Reader request, wire::Response::Builder response,
                capnp::MessageBuilder& message, const ConnectionContext& connection) {
  auto* display = exp.display();
  if (display == nullptr) return dispatch_fs(exp, request, response, message, connection);
  switch (request.getOp().which()) {
    case wire::Request::Op::DRM:
      return display->handle(request.getOp().getDrm(), response, connection.region);
    case wire::Request::Op::PING:
      response.getResult().setPong();
      return {};
    default:
      return make_error(ENOTSUP, "export '" + exp.spec().name + "' is a display, not a filesystem");
  }
}

kj::Array<capnp::word> error_frame(uint64_t id, const Error& error) {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<wire::Message>().initResponse();
  response.setId(id);
  set_error(response, error);
  return frame::encode(message);
}

}  // namespace

Dispatcher::Dispatcher(std::vector<std::unique_ptr<ServedExport>> exports, uint64_t boot_id)
    : exports_(std::move(exports)), boot_id_(boot_id) {
  for (std::size_t i = 0; i < exports_.size(); ++i) {
    if (auto* display = exports_[i]->display()) display->start_events(static_cast<uint16_t>(i));
  }
}

void Dispatcher::set_event_sink(const FrameSink& sink) {
  for (auto& exp : exports_) {
    if (auto* display = exp->display()) display->set_event_sink(sink);
  }
}

void Dispatcher::describe(const std::string& guest_name, uint64_t region_size,
                          wire::Hello::Builder hello) const {
  hello.setMajor(wire::PROTOCOL_MAJOR);
  hello.setMinor(wire::PROTOCOL_MINOR);
  hello.setRole(wire::Hello::Role::GUEST);
  hello.setName(guest_name);
  hello.setBootId(boot_id_);
  hello.initRegion().setSize(region_size);
  auto list = hello.initExports(static_cast<unsigned>(exports_.size()));
  for (unsigned i = 0; i < exports_.size(); ++i) {
    ServedExport& exp = *exports_[i];  // unique_ptr: const here does not reach the engine
    auto out = list[i];
    out.setName(exp.spec().name);
    if (auto* display = exp.display()) {
      out.setKind(wire::Export::Kind::DISPLAY);
      out.setEngine("drm");
      const auto& caps = display->device().caps();
      out.setNote(caps.driver + " (" + caps.description + ") on " + exp.spec().source);
      continue;
    }
    out.setKind(wire::Export::Kind::FILESYSTEM);
    out.setEngine(std::string(exp.engine().engine_name()));
    out.setReadOnly(exp.engine().read_only());
    uint64_t caps = capability(wire::Export::Capability::XATTR) |
                    capability(wire::Export::Capability::HARDLINKS) |
                    capability(wire::Export::Capability::SYMLINKS);
    if (exp.engine().subvolumes()) caps |= capability(wire::Export::Capability::SUBVOLUMES);
    out.setCapabilities(caps);
    out.setNote(exp.engine().note());
  }
}

kj::Array<capnp::word> Dispatcher::handle(wire::Request::Reader request,
                                          const ConnectionContext& connection) {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<wire::Message>().initResponse();
  uint64_t id = 0;
  try {
    id = request.getId();
    response.setId(id);
    Status status =
        request.getExport() < exports_.size()
            ? dispatch(*exports_[request.getExport()], request, response, message, connection)
            : make_error(ENODEV, "no export #" + std::to_string(request.getExport()));
    if (!status) set_error(response, status.error());
  } catch (const kj::Exception& e) {
    // A malformed request must not take the connection down with it: answer it and go on. A
    // fresh message is used because the half-built one may hold partial results.
    spdlog::warn("request {}: malformed: {}", id, e.getDescription().cStr());
    return error_frame(id, make_error(EPROTO, "malformed request"));
  }
  auto out = frame::encode(message);
  // The host closes a connection that sends a frame above the cap: answer E2BIG instead.
  if (out.size() * sizeof(capnp::word) > wire::FRAME_MAX)
    return error_frame(id, make_error(E2BIG, "response larger than the frame limit"));
  return out;
}

kj::Array<capnp::word> Dispatcher::canceled(uint64_t id) {
  return error_frame(id, make_error(ECANCELED));
}

}  // namespace bridge::guest
