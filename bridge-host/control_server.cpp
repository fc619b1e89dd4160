#include "bridge-host/control_server.h"

#include <spdlog/spdlog.h>

#include "schema/errno_map.h"

namespace bridge::host {
namespace {

kj::Array<capnp::word> error_response(uint64_t id, const Error& error) {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<wire::Message>().initResponse();
  response.setId(id);
  response.getResult().setError(to_wire_errno(error.code));
  if (!error.context.empty()) response.setMessage(error.context);
  return frame::encode(message);
}

// The guest's response with the client's request id in place of the host's.
kj::Array<capnp::word> relabel(uint64_t client_id, Result<frame::Frame> reply) {
  if (!reply) return error_response(client_id, reply.error());
  try {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Message>().setResponse(reply->message().getResponse());
    message.getRoot<wire::Message>().getResponse().setId(client_id);
    return frame::encode(message);
  } catch (const kj::Exception& e) {
    return error_response(client_id, make_error(EIO, "malformed response from guest"));
  }
}

void describe(const SchemeInfo& info, wire::Export::Builder out) {
  out.setName(info.name);
  out.setKind(info.display ? wire::Export::Kind::DISPLAY : wire::Export::Kind::FILESYSTEM);
  out.setEngine(info.engine);
  out.setReadOnly(info.read_only);
  out.setOnline(info.online);
  out.setGuest(info.guest);
  out.setNote(info.note);
}

}  // namespace

asio::awaitable<Result<std::vector<std::string>>> ControlServer::exchange_hello(
    FramedStream& stream) {
  auto first = co_await stream.read();
  if (!first) co_return first.error();
  try {
    auto msg = first->message();
    if (!msg.isHello() || msg.getHello().getRole() != wire::Hello::Role::CONTROL)
      co_return make_error(EPROTO, "control client did not say hello as a control client");
    if (msg.getHello().getMajor() != wire::PROTOCOL_MAJOR)
      co_return make_error(EPROTO,
                           "bridgectl speaks another protocol version; use the bridgectl "
                           "built with this bridge-host");
  } catch (const kj::Exception& e) {
    co_return make_error(EPROTO, std::string("malformed hello: ") + e.getDescription().cStr());
  }
  auto schemes = registry_.list();
  capnp::MallocMessageBuilder message;
  auto hello = message.initRoot<wire::Message>().initHello();
  hello.setMajor(wire::PROTOCOL_MAJOR);
  hello.setMinor(wire::PROTOCOL_MINOR);
  hello.setRole(wire::Hello::Role::HOST);
  hello.setName(host_name_);
  auto exports = hello.initExports(static_cast<unsigned>(schemes.size()));
  std::vector<std::string> names;
  for (unsigned i = 0; i < schemes.size(); ++i) {
    describe(schemes[i], exports[i]);
    names.push_back(schemes[i].name);
  }
  stream.send(message);
  co_return names;
}

asio::awaitable<void> ControlServer::serve(std::shared_ptr<FramedStream> stream) {
  auto names = co_await exchange_hello(*stream);
  if (!names) {
    spdlog::warn("control client dropped: {}", names.error().context);
    stream->close();
    co_return;
  }
  while (true) {
    auto frame = co_await stream->read();
    if (!frame) break;
    forward(*names, std::move(*frame), stream);
  }
  stream->close();
}

void ControlServer::forward(const std::vector<std::string>& names, frame::Frame frame,
                            const std::shared_ptr<FramedStream>& stream) {
  uint64_t id = 0;
  try {
    auto msg = frame.message();
    if (!msg.isRequest()) return;  // cancel/goodbye from bridgectl: nothing to do
    auto request = msg.getRequest();
    id = request.getId();
    if (request.getExport() >= names.size())
      return stream->send(error_response(id, make_error(ENODEV, "no such scheme")));
    const std::string& name = names[request.getExport()];
    auto info = registry_.info(name);
    auto forwarder = registry_.find_forwarder(name);
    if (!info || !info->online || !forwarder)
      return stream->send(error_response(id, make_error(EIO, "scheme '" + name + "' is offline")));
    forwarder->forward(request, [stream, id](Result<frame::Frame> reply) {
      stream->send(relabel(id, std::move(reply)));
    });
  } catch (const kj::Exception& e) {
    stream->send(error_response(id, make_error(EPROTO, "malformed request")));
  }
}

}  // namespace bridge::host
