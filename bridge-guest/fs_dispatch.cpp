#include "bridge-guest/fs_dispatch.h"

#include <algorithm>
#include <string>

#include "bridge-guest/subvol_dispatch.h"
#include "schema/fs_codec.h"

namespace bridge::guest {
namespace {

using Op = wire::Request::Op;
using capnp::Data;

struct Ctx {
  ServedExport& exp;
  wire::Request::Reader req;
  wire::Response::Builder resp;
  capnp::MessageBuilder& message;
  const ConnectionContext& connection;

  FsEngine& engine() { return exp.engine(); }
  Creds creds() const { return {req.getCreds().getUid(), req.getCreds().getGid()}; }
};

Result<std::shared_ptr<OpenFile>> find_file(Ctx& c, wire::Handle::Reader handle) {
  auto file = c.exp.files().find(handle.getValue());
  if (!file) return make_error(ESTALE, "unknown, closed or stale handle");
  return file;
}

Status put_attr(Ctx& c, Result<Attr> attr) {
  if (!attr) return attr.error();
  codec::encode(*attr, c.resp.getResult().initAttr());
  return {};
}

Status done(Ctx& c, Status status) {
  if (!status) return status;
  c.resp.getResult().setDone();
  return {};
}

// Decodes a path field or returns its error from the enclosing function.
#define BRIDGE_PATH(var, reader)             \
  auto var##_r = codec::decode_path(reader); \
  if (!var##_r) return var##_r.error();      \
  const RelPath& var = *var##_r

Status op_getattr(Ctx& c, wire::GetattrReq::Reader r) {
  if (r.isHandle()) {
    auto file = find_file(c, r.getHandle());
    if (!file) return file.error();
    return put_attr(c, (*file)->getattr());
  }
  BRIDGE_PATH(path, r.getPath());
  return put_attr(c, c.engine().getattr(path, r.getFollow()));
}

Status op_setattr(Ctx& c, wire::SetattrReq::Reader r) {
  SetAttr changes = codec::decode_changes(r);
  if (r.isHandle()) {
    auto file = find_file(c, r.getHandle());
    if (!file) return file.error();
    return put_attr(c, (*file)->setattr(changes));
  }
  BRIDGE_PATH(path, r.getPath());
  return put_attr(c, c.engine().setattr(path, changes));
}

Status op_open(Ctx& c, wire::OpenReq::Reader r, bool create) {
  BRIDGE_PATH(path, r.getPath());
  OpenFlags flags = codec::decode(r.getFlags());
  flags.create = flags.create || create;
  auto opened = c.engine().open(path, flags, r.getMode() & 07777, c.creds());
  if (!opened) return opened.error();
  std::shared_ptr<OpenFile> file = std::move(opened).value();
  auto attr = file->getattr();
  if (!attr) return attr.error();
  auto handle = c.exp.files().insert(file);
  if (!handle) return handle.error();
  auto out = c.resp.getResult().initOpened();
  out.initHandle().setValue(*handle);
  codec::encode(*attr, out.initAttr());
  return {};
}

// The host's range of the region, checked against the mapping: EFAULT for anything outside
// it (including offset + length overflowing), ENOTSUP when this connection has no region.
Result<std::span<std::byte>> region_range(const Ctx& c, uint64_t offset, uint64_t length) {
  if (!c.connection.region)
    return make_error(ENOTSUP, "no shared region was set up for this connection");
  return c.connection.region->slice(offset, length);
}

// INVARIANT: capnp Data is a byte array; std::byte aliases any object representation.
std::span<std::byte> as_bytes(capnp::Data::Builder data) {
  return {reinterpret_cast<std::byte*>(data.begin()), data.size()};
}

Status read_inline(Ctx& c, OpenFile& file, wire::ReadReq::Reader r) {
  const uint32_t length = std::min(r.getLength(), wire::INLINE_DATA_MAX);
  auto buffer = c.message.getOrphanage().newOrphan<Data>(length);
  auto got = file.read(r.getOffset(), as_bytes(buffer.get()));
  if (!got) return got.error();
  buffer.truncate(static_cast<unsigned>(std::min<std::size_t>(*got, length)));
  c.resp.getResult().initData().adoptInline(kj::mv(buffer));
  return {};
}

// Reads straight from the engine into the range the host set aside; never more than asked,
// never more than the range holds.
// `range` is the request's `into`, already checked against the region.
Status read_into_region(Ctx& c, OpenFile& file, wire::ReadReq::Reader r,
                        std::span<std::byte> range) {
  auto into = r.getInto();
  auto target = range.first(std::min<std::size_t>(range.size(), r.getLength()));
  auto got = file.read(r.getOffset(), target);
  if (!got) return got.error();
  auto out = c.resp.getResult().initData().initRegion();
  out.setOffset(into.getOffset());
  out.setLength(std::min<std::size_t>(*got, target.size()));
  return {};
}

Status op_read(Ctx& c, wire::ReadReq::Reader r) {
  std::span<std::byte> range;
  const bool into_region = r.getInto().getLength() != 0;
  if (into_region) {  // refuse a bad range before touching the file
    auto checked = region_range(c, r.getInto().getOffset(), r.getInto().getLength());
    if (!checked) return checked.error();
    range = *checked;
  }
  auto file = find_file(c, r.getHandle());
  if (!file) return file.error();
  return into_region ? read_into_region(c, **file, r, range) : read_inline(c, **file, r);
}

Result<std::span<const std::byte>> write_source(Ctx& c, wire::Payload::Reader payload) {
  if (payload.isRegion()) {
    auto range = region_range(c, payload.getRegion().getOffset(), payload.getRegion().getLength());
    if (!range) return range.error();
    return std::span<const std::byte>(*range);
  }
  auto data = payload.getInline();
  if (data.size() > wire::INLINE_DATA_MAX) return make_error(EPROTO, "inline write above limit");
  // INVARIANT: capnp Data is a byte array; std::byte aliases any object representation.
  return std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.begin()), data.size());
}

Status op_write(Ctx& c, wire::WriteReq::Reader r) {
  auto source = write_source(c, r.getData());
  if (!source) return source.error();
  // The engine reports a uint32 count on the wire: never hand it more than one can say.
  if (source->size() > UINT32_MAX) return make_error(EINVAL, "write larger than 4 GiB");
  auto file = find_file(c, r.getHandle());
  if (!file) return file.error();
  auto wrote = (*file)->write(r.getOffset(), *source);
  if (!wrote) return wrote.error();
  c.resp.getResult().setWritten(static_cast<uint32_t>(*wrote));
  return {};
}

Status op_close(Ctx& c, wire::HandleReq::Reader r) {
  auto file = c.exp.files().remove(r.getHandle().getValue());
  if (!file) return make_error(ESTALE, "close of an unknown, closed or stale handle");
  file.reset();  // closes here, on this export's serialization
  c.resp.getResult().setDone();
  return {};
}

Status op_fsync(Ctx& c, wire::FsyncReq::Reader r) {
  auto file = find_file(c, r.getHandle());
  if (!file) return file.error();
  return done(c, (*file)->fsync(r.getDataOnly()));
}

Status op_readdir(Ctx& c, wire::ReaddirReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  uint32_t max = std::clamp<uint32_t>(r.getMaxEntries(), 1, wire::READDIR_ENTRIES_MAX);
  auto page = c.engine().readdir(path, r.getCookie(), max, r.getWithAttrs());
  if (!page) return page.error();
  codec::encode(*page, c.resp.getResult().initEntries());
  return {};
}

Status op_rename(Ctx& c, wire::RenameReq::Reader r) {
  BRIDGE_PATH(from, r.getFrom());
  BRIDGE_PATH(to, r.getTo());
  if (from.is_root() || to.is_root()) return make_error(EBUSY, "cannot rename the export root");
  return done(c, c.engine().rename(from, to, {r.getNoReplace(), r.getExchange()}));
}

Status op_symlink(Ctx& c, wire::SymlinkReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  auto target = r.getTarget();
  if (target.size() == 0 || target.size() > 4095)
    return make_error(ENAMETOOLONG, "symlink target empty or longer than 4095 bytes");
  return put_attr(c, c.engine().symlink(path, {target.cStr(), target.size()}, c.creds()));
}

Status op_readlink(Ctx& c, wire::PathReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  auto target = c.engine().readlink(path);
  if (!target) return target.error();
  c.resp.getResult().setTarget(*target);
  return {};
}

Status op_link(Ctx& c, wire::LinkReq::Reader r) {
  BRIDGE_PATH(existing, r.getExisting());
  BRIDGE_PATH(new_path, r.getNewPath());
  return put_attr(c, c.engine().link(existing, new_path));
}

Status op_statfs(Ctx& c) {
  auto st = c.engine().statfs();
  if (!st) return st.error();
  codec::encode(*st, c.resp.getResult().initStatfs());
  return {};
}

Result<std::string_view> xattr_name(wire::XattrReq::Reader r) {
  auto name = r.getName();
  if (name.size() == 0 || name.size() > 255) return make_error(ERANGE, "bad xattr name length");
  return std::string_view(name.cStr(), name.size());
}

Status op_xattr(Ctx& c, Op::Which which, wire::XattrReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  auto name = xattr_name(r);
  if (!name) return name.error();
  if (which == Op::GETXATTR) {
    auto value = c.engine().getxattr(path, *name);
    if (!value) return value.error();
    c.resp.getResult().setXattrValue(kj::arrayPtr(value->data(), value->size()));
    return {};
  }
  if (which == Op::REMOVEXATTR) return done(c, c.engine().removexattr(path, *name));
  auto value = r.getValue();
  return done(c, c.engine().setxattr(path, *name, {value.begin(), value.size()},
                                     {r.getCreateOnly(), r.getReplaceOnly()}));
}

Status op_listxattr(Ctx& c, wire::PathReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  auto names = c.engine().listxattr(path);
  if (!names) return names.error();
  auto out = c.resp.getResult().initXattrNames(static_cast<unsigned>(names->size()));
  for (unsigned i = 0; i < names->size(); ++i) out.set(i, (*names)[i]);
  return {};
}

Status op_path(Ctx& c, Op::Which which, wire::PathReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  if (path.is_root()) return make_error(EBUSY, "cannot remove the export root");
  if (which == Op::UNLINK) return done(c, c.engine().unlink(path));
  return done(c, c.engine().rmdir(path));
}

Status op_mkdir(Ctx& c, wire::MkdirReq::Reader r) {
  BRIDGE_PATH(path, r.getPath());
  if (path.is_root()) return make_error(EEXIST, "the export root exists");
  return put_attr(c, c.engine().mkdir(path, r.getMode() & 07777, c.creds()));
}

#undef BRIDGE_PATH

}  // namespace

Status dispatch_fs(ServedExport& exp, wire::Request::Reader request,
                   wire::Response::Builder response, capnp::MessageBuilder& message,
                   const ConnectionContext& connection) {
  Ctx c{exp, request, response, message, connection};
  auto op = request.getOp();
  switch (op.which()) {
    case Op::GETATTR:
      return op_getattr(c, op.getGetattr());
    case Op::SETATTR:
      return op_setattr(c, op.getSetattr());
    case Op::OPEN:
      return op_open(c, op.getOpen(), false);
    case Op::CREATE:
      return op_open(c, op.getCreate(), true);
    case Op::READ:
      return op_read(c, op.getRead());
    case Op::WRITE:
      return op_write(c, op.getWrite());
    case Op::CLOSE:
      return op_close(c, op.getClose());
    case Op::FSYNC:
      return op_fsync(c, op.getFsync());
    case Op::READDIR:
      return op_readdir(c, op.getReaddir());
    case Op::MKDIR:
      return op_mkdir(c, op.getMkdir());
    case Op::UNLINK:
      return op_path(c, Op::UNLINK, op.getUnlink());
    case Op::RMDIR:
      return op_path(c, Op::RMDIR, op.getRmdir());
    case Op::RENAME:
      return op_rename(c, op.getRename());
    case Op::SYMLINK:
      return op_symlink(c, op.getSymlink());
    case Op::READLINK:
      return op_readlink(c, op.getReadlink());
    case Op::LINK:
      return op_link(c, op.getLink());
    case Op::STATFS:
      return op_statfs(c);
    case Op::GETXATTR:
      return op_xattr(c, Op::GETXATTR, op.getGetxattr());
    case Op::SETXATTR:
      return op_xattr(c, Op::SETXATTR, op.getSetxattr());
    case Op::REMOVEXATTR:
      return op_xattr(c, Op::REMOVEXATTR, op.getRemovexattr());
    case Op::LISTXATTR:
      return op_listxattr(c, op.getListxattr());
    case Op::PING:
      response.getResult().setPong();
      return {};
    case Op::SUBVOL:
      if (auto* ops = exp.engine().subvolumes())
        return dispatch_subvol(*ops, op.getSubvol(), response);
      return make_error(ENOTSUP, "export '" + exp.spec().name + "' has no subvolumes (not btrfs)");
    case Op::DRM:
      return make_error(ENODEV, "export '" + exp.spec().name + "' is not a display");
  }
  return make_error(ENOSYS, "unknown operation (newer host?)");
}

}  // namespace bridge::guest
