// Subvolume requests (btrfs exports): decode, run on the engine's SubvolumeOps, encode.
#pragma once

#include "bridge-guest/engines/fs_engine.h"
#include "common/result.h"
#include "schema/bridge.capnp.h"

namespace bridge::guest {

Status dispatch_subvol(SubvolumeOps& ops, wire::SubvolReq::Reader request,
                       wire::Response::Builder response);

}  // namespace bridge::guest
