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

Status op_read(Ctx& c, wire::ReadReq::Reader r) {
  if (r.getInto().getLength() != 0)
    return make_error(ENOTSUP, "no shared region was set up for this connection");
  auto file = find_file(c, r.getHandle());
  if (!file) return file.error();
  const uint32_t length = std::min(r.getLength(), wire::INLINE_DATA_MAX);
  auto buffer = c.message.getOrphanage().newOrphan<Data>(length);
  auto bytes = buffer.get();
  // INVARIANT: capnp Data is a byte array; std::byte aliases any object representation.
  auto got =
      (*file)->read(r.getOffset(), {reinterpret_cast<std::byte*>(bytes.begin()), bytes.size()});
  if (!got) return got.error();
  buffer.truncate(static_cast<unsigned>(std::min<std::size_t>(*got, length)));
  c.resp.getResult().initData().adoptInline(kj::mv(buffer));
  return {};
}

Status op_write(Ctx& c, wire::WriteReq::Reader r) {
  if (!r.getData().isInline())
    return make_error(ENOTSUP, "no shared region was set up for this connection");
  auto data = r.getData().getInline();
  if (data.size() > wire::INLINE_DATA_MAX) return make_error(EPROTO, "inline write above limit");
  auto file = find_file(c, r.getHandle());
  if (!file) return file.error();
  // INVARIANT: capnp Data is a byte array; std::byte aliases any object representation.
  auto wrote = (*file)->write(r.getOffset(),
                              {reinterpret_cast<const std::byte*>(data.begin()), data.size()});
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
                   wire::Response::Builder response, capnp::MessageBuilder& message) {
  Ctx c{exp, request, response, message};
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
