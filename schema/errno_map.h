// Errors cross the wire as wire::Errno, never as either side's numbering. Each side maps at its
// edge: the guest from its Linux errno, the host to its own errno. Unknown values map to EIO /
// Errno::IO so that a newer peer cannot make us misreport.
#pragma once

#include "schema/bridge.capnp.h"

namespace bridge {

wire::Errno to_wire_errno(int local_errno);
int from_wire_errno(wire::Errno value);

}  // namespace bridge
