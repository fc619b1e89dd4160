#include "schema/fs_codec.h"

#include <kj/exception.h>

#include <cassert>
#include <string>
#include <string_view>
#include <vector>

namespace bridge::codec {

// The C++ limits in common/ and the schema's constants describe the same contract.
static_assert(kNameMax == wire::COMPONENT_BYTES_MAX);
static_assert(kPathComponentsMax == wire::PATH_COMPONENTS_MAX);

namespace {

// Timestamps: a nanosecond field >= 1e9 is clamped to 999'999'999, not refused. Attr and TimeSet
// decoders return values (their API cannot fail), clamping loses under a nanosecond of meaning,
// and it keeps hostile values such as UTIME_NOW/UTIME_OMIT (0x3fffffff/0x3ffffffe) from
// reaching utimensat() with their special meaning. Seconds are passed through unchanged.
constexpr uint32_t kNsecMax = 999'999'999;

uint32_t clamp_nsec(uint32_t nsec) {
  return nsec > kNsecMax ? kNsecMax : nsec;
}

void encode_time(const Timestamp& in, wire::Timestamp::Builder out) {
  out.setSec(in.sec);
  out.setNsec(clamp_nsec(in.nsec));
}

Timestamp decode_time(wire::Timestamp::Reader in) {
  return Timestamp{in.getSec(), clamp_nsec(in.getNsec())};
}

capnp::Text::Reader as_text(const std::string& s) {
  return capnp::Text::Reader(s.data(), s.size());
}

std::string_view as_view(capnp::Text::Reader t) {
  return std::string_view(t.begin(), t.size());
}

// SetattrReq.mode is permission bits only; type bits from a peer are dropped, not applied.
constexpr uint32_t kPermissionBits = 07777;

Result<DirEntry> decode_entry(wire::DirEntry::Reader in) {
  const auto name = NameComponent::parse(as_view(in.getName()));
  if (!name) return make_error(EPROTO, "directory entry refused: " + name.error().context);
  return DirEntry{name->str(), in.getIno(), in.getType(), decode(in.getAttr())};
}

Result<DirPage> decode_page(wire::DirPage::Reader in) {
  const auto entries = in.getEntries();
  if (entries.size() > wire::READDIR_ENTRIES_MAX)
    return make_error(EPROTO, "directory page of " + std::to_string(entries.size()) +
                                  " entries (limit " + std::to_string(wire::READDIR_ENTRIES_MAX) +
                                  ")");
  DirPage page;
  page.entries.reserve(entries.size());
  for (auto entry : entries) {
    auto decoded = decode_entry(entry);
    if (!decoded) return decoded.error();
    page.entries.push_back(std::move(decoded).value());
  }
  page.next_cookie = in.getNextCookie();
  page.end = in.getEnd();
  return page;
}

}  // namespace

void encode(const Attr& in, wire::Attr::Builder out) {
  out.setIno(in.ino);
  out.setMode(in.mode);
  out.setNlink(in.nlink);
  out.setUid(in.uid);
  out.setGid(in.gid);
  out.setSize(in.size);
  out.setBlocks(in.blocks);
  out.setBlksize(in.blksize);
  out.setRdev(in.rdev);
  encode_time(in.atime, out.initAtime());
  encode_time(in.mtime, out.initMtime());
  encode_time(in.ctime, out.initCtime());
}

Attr decode(wire::Attr::Reader in) {
  Attr out;
  out.ino = in.getIno();
  out.mode = in.getMode();
  out.nlink = in.getNlink();
  out.uid = in.getUid();
  out.gid = in.getGid();
  out.size = in.getSize();
  out.blocks = in.getBlocks();
  out.blksize = in.getBlksize();
  out.rdev = in.getRdev();
  out.atime = decode_time(in.getAtime());
  out.mtime = decode_time(in.getMtime());
  out.ctime = decode_time(in.getCtime());
  return out;
}

void encode(const StatFs& in, wire::StatFs::Builder out) {
  out.setBlockSize(in.block_size);
  out.setFragmentSize(in.fragment_size);
  out.setBlocks(in.blocks);
  out.setBlocksFree(in.blocks_free);
  out.setBlocksAvailable(in.blocks_available);
  out.setFiles(in.files);
  out.setFilesFree(in.files_free);
  out.setNameMax(in.name_max);
}

StatFs decode(wire::StatFs::Reader in) {
  StatFs out;
  out.block_size = in.getBlockSize();
  out.fragment_size = in.getFragmentSize();
  out.blocks = in.getBlocks();
  out.blocks_free = in.getBlocksFree();
  out.blocks_available = in.getBlocksAvailable();
  out.files = in.getFiles();
  out.files_free = in.getFilesFree();
  out.name_max = in.getNameMax();
  return out;
}

void encode(const OpenFlags& in, wire::OpenFlags::Builder out) {
  out.setRead(in.read);
  out.setWrite(in.write);
  out.setAppend(in.append);
  out.setTruncate(in.truncate);
  out.setCreate(in.create);
  out.setExclusive(in.exclusive);
  out.setDirectory(in.directory);
  out.setNoFollow(in.no_follow);
}

OpenFlags decode(wire::OpenFlags::Reader in) {
  OpenFlags out;
  out.read = in.getRead();
  out.write = in.getWrite();
  out.append = in.getAppend();
  out.truncate = in.getTruncate();
  out.create = in.getCreate();
  out.exclusive = in.getExclusive();
  out.directory = in.getDirectory();
  out.no_follow = in.getNoFollow();
  return out;
}

void encode(const TimeSet& in, wire::TimeSet::Builder out) {
  switch (in.kind) {
    case TimeSet::Kind::omit:
      out.setOmit();
      return;
    case TimeSet::Kind::now:
      out.setNow();
      return;
    case TimeSet::Kind::at:
      encode_time(in.at, out.initAt());
      return;
  }
}

TimeSet decode(wire::TimeSet::Reader in) {
  switch (in.which()) {
    case wire::TimeSet::NOW:
      return TimeSet{TimeSet::Kind::now, {}};
    case wire::TimeSet::AT:
      return TimeSet{TimeSet::Kind::at, decode_time(in.getAt())};
    case wire::TimeSet::OMIT:
      break;
  }
  // OMIT, or a union member added by a newer peer: leaving the time alone is the safe reading.
  return TimeSet{};
}

void encode_changes(const SetAttr& in, wire::SetattrReq::Builder out) {
  out.setSetMode(in.mode.has_value());
  out.setMode(in.mode.value_or(0));
  out.setSetUid(in.uid.has_value());
  out.setUid(in.uid.value_or(0));
  out.setSetGid(in.gid.has_value());
  out.setGid(in.gid.value_or(0));
  out.setSetSize(in.size.has_value());
  out.setSize(in.size.value_or(0));
  encode(in.atime, out.initAtime());
  encode(in.mtime, out.initMtime());
}

SetAttr decode_changes(wire::SetattrReq::Reader in) {
  SetAttr out;
  if (in.getSetMode()) out.mode = in.getMode() & kPermissionBits;
  if (in.getSetUid()) out.uid = in.getUid();
  if (in.getSetGid()) out.gid = in.getGid();
  if (in.getSetSize()) out.size = in.getSize();
  out.atime = decode(in.getAtime());
  out.mtime = decode(in.getMtime());
  return out;
}

void encode(const RelPath& in, capnp::List<capnp::Text>::Builder out) {
  assert(out.size() == in.size() && "initialize the list with path.size() (see set_path)");
  unsigned i = 0;
  for (const auto& part : in.components()) out.set(i++, as_text(part.str()));
}

Result<RelPath> decode_path(capnp::List<capnp::Text>::Reader in) {
  // Bound the count before touching any element, so a huge list costs nothing.
  if (in.size() > wire::PATH_COMPONENTS_MAX)
    return make_error(ENAMETOOLONG, "path of " + std::to_string(in.size()) + " components");
  std::vector<std::string_view> parts;
  parts.reserve(in.size());
  try {
    // The views borrow the message; RelPath copies them before this returns.
    for (auto text : in) parts.push_back(as_view(text));
  } catch (const kj::Exception& e) {
    // Not NUL-terminated, not a byte list, out of bounds: not a name. UTF-8 is deliberately not
    // checked: Linux names are bytes, and refusing them would hide files.
    return make_error(
        EINVAL, std::string("path component is not valid Text: ") + e.getDescription().cStr());
  }
  return RelPath::from_components(parts);
}

void encode(const DirPage& in, wire::DirPage::Builder out) {
  auto entries = out.initEntries(static_cast<unsigned>(in.entries.size()));
  unsigned i = 0;
  for (const auto& entry : in.entries) {
    auto e = entries[i++];
    e.setName(as_text(entry.name));
    e.setIno(entry.ino);
    e.setType(entry.type);
    encode(entry.attr, e.initAttr());
  }
  out.setNextCookie(in.next_cookie);
  out.setEnd(in.end);
}

Result<DirPage> decode(wire::DirPage::Reader in) {
  // A page is all or nothing: a malformed pointer anywhere in it is a protocol error.
  try {
    return decode_page(in);
  } catch (const kj::Exception& e) {
    return make_error(EPROTO,
                      std::string("malformed directory page: ") + e.getDescription().cStr());
  }
}

namespace {

std::vector<uint8_t> bytes_of(capnp::Data::Reader data) {
  return {data.begin(), data.end()};
}

Result<SubvolInfo> decode_subvol(wire::Subvolume::Reader in) {
  SubvolInfo out{in.getId(),
                 in.getParentId(),
                 in.getPath(),
                 in.getReadOnly(),
                 in.getGeneration(),
                 bytes_of(in.getUuid()),
                 bytes_of(in.getParentUuid())};
  if ((!out.uuid.empty() && out.uuid.size() != 16) ||
      (!out.parent_uuid.empty() && out.parent_uuid.size() != 16))
    return make_error(EPROTO, "subvolume uuid is not 16 bytes");
  if (!out.path.empty()) {
    auto path = RelPath::parse(out.path);
    if (!path || path->str() != "/" + out.path)
      return make_error(EPROTO, "subvolume path is not a plain relative path");
  }
  return out;
}

}  // namespace

void encode(const std::vector<SubvolInfo>& in, capnp::List<wire::Subvolume>::Builder out) {
  for (unsigned i = 0; i < in.size(); ++i) {
    auto o = out[i];
    o.setId(in[i].id);
    o.setParentId(in[i].parent_id);
    o.setPath(in[i].path);
    o.setReadOnly(in[i].read_only);
    o.setGeneration(in[i].generation);
    o.setUuid(kj::arrayPtr(in[i].uuid.data(), in[i].uuid.size()));
    o.setParentUuid(kj::arrayPtr(in[i].parent_uuid.data(), in[i].parent_uuid.size()));
  }
}

Result<std::vector<SubvolInfo>> decode(capnp::List<wire::Subvolume>::Reader in) {
  if (in.size() > wire::SUBVOLUMES_MAX)
    return make_error(EPROTO, "subvolume list above " + std::to_string(wire::SUBVOLUMES_MAX));
  std::vector<SubvolInfo> out;
  try {
    for (auto s : in) {
      auto info = decode_subvol(s);
      if (!info) return info.error();
      out.push_back(std::move(info).value());
    }
  } catch (const kj::Exception& e) {
    return make_error(EPROTO,
                      std::string("malformed subvolume list: ") + e.getDescription().cStr());
  }
  return out;
}

}  // namespace bridge::codec
