// Conversions between the filesystem value types (common/fs_types.h) and their wire structs.
// Decoders that take guest- or host-supplied content validate it: paths become RelPath through
// NameComponent (EINVAL/ENAMETOOLONG), counts are bounded by the schema's limits. Readers may
// throw kj::Exception on malformed messages; callers catch at the message edge.
//
// Timestamps: a nanosecond field >= 1e9 is clamped to 999'999'999 both ways (never refused: the
// Attr/TimeSet decoders cannot fail, and clamping keeps UTIME_NOW/UTIME_OMIT-like values away
// from utimensat). SetattrReq.mode is masked to permission bits (07777) on decode. A TimeSet
// union member unknown to this version decodes as omit.
#pragma once

#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"
#include "schema/bridge.capnp.h"

namespace bridge::codec {

void encode(const Attr& in, wire::Attr::Builder out);
Attr decode(wire::Attr::Reader in);

void encode(const StatFs& in, wire::StatFs::Builder out);
StatFs decode(wire::StatFs::Reader in);

void encode(const OpenFlags& in, wire::OpenFlags::Builder out);
OpenFlags decode(wire::OpenFlags::Reader in);

void encode(const TimeSet& in, wire::TimeSet::Builder out);
TimeSet decode(wire::TimeSet::Reader in);

// SetattrReq carries the changes beside its path/handle target.
void encode_changes(const SetAttr& in, wire::SetattrReq::Builder out);
SetAttr decode_changes(wire::SetattrReq::Reader in);

// Paths: each component checked (not "", ".", "..", no '/' or NUL, <= 255 bytes), at most
// pathComponentsMax components. Refusals: more components -> ENAMETOOLONG (checked before any
// element is read); a bad name -> EINVAL / ENAMETOOLONG as NameComponent::parse says; an element
// that is not valid Text (not NUL-terminated, wrong pointer kind) -> EINVAL. UTF-8 is not checked:
// Linux names are bytes.
void encode(const RelPath& in, capnp::List<capnp::Text>::Builder out);
Result<RelPath> decode_path(capnp::List<capnp::Text>::Reader in);
// Initializes `field` of a builder with `path`: codec::set_path(req.initPath(n), path) needs the
// count, so callers use this helper instead.
template <typename InitFn>
void set_path(const RelPath& path, InitFn&& init) {
  encode(path, init(static_cast<unsigned>(path.size())));
}

void encode(const DirPage& in, wire::DirPage::Builder out);
// Entry names from the guest are checked like path components; a page above
// readdirEntriesMax is refused (EPROTO). Every refusal, a bad name included, is EPROTO: the
// peer broke the protocol, the caller's request was fine. Never throws.
Result<DirPage> decode(wire::DirPage::Reader in);

// Subvolume lists: paths must be relative paths of valid components (checked like any path),
// uuids 16 bytes or empty; a list above subvolumesMax is refused (EPROTO).
void encode(const std::vector<SubvolInfo>& in, capnp::List<wire::Subvolume>::Builder out);
Result<std::vector<SubvolInfo>> decode(capnp::List<wire::Subvolume>::Reader in);

}  // namespace bridge::codec
