// The filesystem operations of the dispatcher: one function per request kind, each decoding its
// arguments (paths through RelPath, handles through the export's table), calling the engine and
// filling the response. Errors are returned; the caller writes them.
#pragma once

#include <capnp/message.h>

#include "bridge-guest/dispatcher.h"
#include "common/result.h"
#include "schema/bridge.capnp.h"

namespace bridge::guest {

// Runs `request` (a filesystem op) on `exp`. On success the result is in `response`;
// `message` is the builder that owns it (for orphans such as read buffers). File data goes
// through `connection.region` when a request names a range of it.
Status dispatch_fs(ServedExport& exp, wire::Request::Reader request,
                   wire::Response::Builder response, capnp::MessageBuilder& message,
                   const ConnectionContext& connection);

}  // namespace bridge::guest
