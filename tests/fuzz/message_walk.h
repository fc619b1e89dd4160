// Reads every byte of a received bridge message the way a daemon would, for the fuzzer and the
// framing tests: a generic pass over the whole tree through the dynamic API (every field, the
// active member of every union, every list element, every Text/Data byte), then a typed pass that
// runs the edge codecs (paths, attributes, directory pages) on whatever the message carries.
// Either pass may throw kj::Exception on a malformed message; callers catch it, as the daemons do.
#pragma once

#include <capnp/dynamic.h>
#include <capnp/schema.h>

#include <cstdint>

#include "schema/bridge.capnp.h"
#include "schema/fs_codec.h"

namespace bridge::fuzz {

struct WalkStats {
  uint64_t structs = 0;
  uint64_t list_elements = 0;
  uint64_t blob_bytes = 0;
  uint64_t checksum = 0;  // folds every byte read, so the reads cannot be optimized away
  uint64_t codec_ok = 0;
  uint64_t codec_refused = 0;
};

inline void walk_value(capnp::DynamicValue::Reader value, WalkStats& stats);

inline void walk_blob(kj::ArrayPtr<const kj::byte> bytes, WalkStats& stats) {
  for (kj::byte b : bytes) stats.checksum = stats.checksum * 31 + b;
  stats.blob_bytes += bytes.size();
}

inline void walk_struct(capnp::DynamicStruct::Reader s, WalkStats& stats) {
  ++stats.structs;
  for (auto field : s.getSchema().getNonUnionFields()) walk_value(s.get(field), stats);
  // Only the active member may be read; an unknown discriminant (newer peer) has none.
  KJ_IF_MAYBE (field, s.which()) {
    walk_value(s.get(*field), stats);
  }
}

inline void walk_value(capnp::DynamicValue::Reader value, WalkStats& stats) {
  switch (value.getType()) {
    case capnp::DynamicValue::STRUCT:
      walk_struct(value.as<capnp::DynamicStruct>(), stats);
      break;
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) {
        ++stats.list_elements;
        walk_value(element, stats);
      }
      break;
    case capnp::DynamicValue::TEXT:
      walk_blob(value.as<capnp::Text>().asBytes(), stats);
      break;
    case capnp::DynamicValue::DATA:
      walk_blob(value.as<capnp::Data>(), stats);
      break;
    case capnp::DynamicValue::ENUM:
      stats.checksum += value.as<capnp::DynamicEnum>().getRaw();
      break;
    case capnp::DynamicValue::INT:
      stats.checksum += static_cast<uint64_t>(value.as<int64_t>());
      break;
    case capnp::DynamicValue::UINT:
      stats.checksum += value.as<uint64_t>();
      break;
    case capnp::DynamicValue::BOOL:
      stats.checksum += value.as<bool>();
      break;
    default:  // VOID, FLOAT (none in the schema), UNKNOWN: nothing to read
      break;
  }
}

template <typename R>
void count(const R& result, WalkStats& stats) {
  ++(result.ok() ? stats.codec_ok : stats.codec_refused);
}

inline void walk_path(capnp::List<capnp::Text>::Reader path, WalkStats& stats) {
  count(codec::decode_path(path), stats);
}

inline void walk_subvol(wire::SubvolReq::Reader req, WalkStats& stats) {
  switch (req.which()) {
    case wire::SubvolReq::CREATE:
      return walk_path(req.getCreate(), stats);
    case wire::SubvolReq::DELETE:
      return walk_path(req.getDelete(), stats);
    case wire::SubvolReq::SET_DEFAULT:
      return walk_path(req.getSetDefault(), stats);
    case wire::SubvolReq::GET_READ_ONLY:
      return walk_path(req.getGetReadOnly(), stats);
    case wire::SubvolReq::SET_READ_ONLY:
      return walk_path(req.getSetReadOnly().getPath(), stats);
    case wire::SubvolReq::SNAPSHOT:
      walk_path(req.getSnapshot().getSource(), stats);
      return walk_path(req.getSnapshot().getDest(), stats);
    default:
      return;
  }
}

// The request decoders a guest runs before it touches a filesystem.
inline void walk_request(wire::Request::Reader req, WalkStats& stats) {
  auto op = req.getOp();
  switch (op.which()) {
    case wire::Request::Op::GETATTR:
      if (op.getGetattr().isPath()) walk_path(op.getGetattr().getPath(), stats);
      return;
    case wire::Request::Op::SETATTR: {
      auto set = op.getSetattr();
      if (set.isPath()) walk_path(set.getPath(), stats);
      auto changes = codec::decode_changes(set);
      stats.checksum += changes.mode.value_or(0);
      return;
    }
    case wire::Request::Op::OPEN:
    case wire::Request::Op::CREATE: {
      auto open = op.isOpen() ? op.getOpen() : op.getCreate();
      stats.checksum += codec::decode(open.getFlags()).write;
      return walk_path(open.getPath(), stats);
    }
    case wire::Request::Op::READDIR:
      return walk_path(op.getReaddir().getPath(), stats);
    case wire::Request::Op::MKDIR:
      return walk_path(op.getMkdir().getPath(), stats);
    case wire::Request::Op::UNLINK:
      return walk_path(op.getUnlink().getPath(), stats);
    case wire::Request::Op::RMDIR:
      return walk_path(op.getRmdir().getPath(), stats);
    case wire::Request::Op::READLINK:
      return walk_path(op.getReadlink().getPath(), stats);
    case wire::Request::Op::STATFS:
      return walk_path(op.getStatfs().getPath(), stats);
    case wire::Request::Op::LISTXATTR:
      return walk_path(op.getListxattr().getPath(), stats);
    case wire::Request::Op::SYMLINK:
      return walk_path(op.getSymlink().getPath(), stats);
    case wire::Request::Op::GETXATTR:
      return walk_path(op.getGetxattr().getPath(), stats);
    case wire::Request::Op::SETXATTR:
      return walk_path(op.getSetxattr().getPath(), stats);
    case wire::Request::Op::REMOVEXATTR:
      return walk_path(op.getRemovexattr().getPath(), stats);
    case wire::Request::Op::RENAME:
      walk_path(op.getRename().getFrom(), stats);
      return walk_path(op.getRename().getTo(), stats);
    case wire::Request::Op::LINK:
      walk_path(op.getLink().getExisting(), stats);
      return walk_path(op.getLink().getNewPath(), stats);
    case wire::Request::Op::SUBVOL:
      return walk_subvol(op.getSubvol(), stats);
    default:
      return;  // handle-only ops, drm, ping, and ops from a newer peer
  }
}

// The response decoders a host runs before it answers a frontend.
inline void walk_response(wire::Response::Reader resp, WalkStats& stats) {
  auto result = resp.getResult();
  switch (result.which()) {
    case wire::Response::Result::ATTR:
      stats.checksum += codec::decode(result.getAttr()).atime.nsec;
      return;
    case wire::Response::Result::OPENED:
      stats.checksum += codec::decode(result.getOpened().getAttr()).mtime.nsec;
      return;
    case wire::Response::Result::STATFS:
      stats.checksum += codec::decode(result.getStatfs()).blocks;
      return;
    case wire::Response::Result::ENTRIES:
      return count(codec::decode(result.getEntries()), stats);
    default:
      return;
  }
}

inline void walk_typed(wire::Message::Reader message, WalkStats& stats) {
  if (message.isRequest()) walk_request(message.getRequest(), stats);
  if (message.isResponse()) walk_response(message.getResponse(), stats);
}

// Both passes. Throws kj::Exception on a malformed message.
inline WalkStats walk_message(wire::Message::Reader message) {
  WalkStats stats;
  walk_struct(capnp::toDynamic(message), stats);
  walk_typed(message, stats);
  return stats;
}

}  // namespace bridge::fuzz
