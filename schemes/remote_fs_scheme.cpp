#include "schemes/remote_fs_scheme.h"

#include <spdlog/spdlog.h>

#include <cstring>

#include "schema/errno_map.h"
#include "schema/fs_codec.h"

namespace bridge {
namespace {

using Which = wire::Response::Result::Which;
using Op = wire::Request::Op;

Error from_guest(wire::Response::Reader response) {
  auto context =
      response.hasMessage() ? std::string("guest: ") + response.getMessage().cStr() : std::string();
  return make_error(from_wire_errno(response.getResult().getError()), std::move(context));
}

// Believes a response only when it carries the result kind the request calls for; hands that
// result to `extract`. Reading a hostile message may throw: that is EIO too.
template <typename T, typename Extract>
Result<T> expect(Result<frame::Frame> frame, Which expected, Extract&& extract) {
  if (!frame) return frame.error();
  try {
    auto response = frame->message().getResponse();
    auto result = response.getResult();
    if (result.isError()) return from_guest(response);
    if (result.which() != expected)
      return make_error(EIO, "guest answered with the wrong kind of result");
    return extract(result);
  } catch (const kj::Exception& e) {
    return make_error(EIO,
                      std::string("malformed response from guest: ") + e.getDescription().cStr());
  }
}

Status expect_done(Result<frame::Frame> frame) {
  auto r = expect<bool>(std::move(frame), Which::DONE, [](auto) { return true; });
  if (!r) return r.error();
  return {};
}

Result<Attr> expect_attr(Result<frame::Frame> frame) {
  return expect<Attr>(std::move(frame), Which::ATTR,
                      [](auto r) { return codec::decode(r.getAttr()); });
}

template <typename Builder>
void set_path(const RelPath& path, Builder builder) {
  codec::set_path(path, [&](unsigned n) { return builder.initPath(n); });
}

// The read request both paths send; the region path adds `into`. `length` is at most max_io().
wire::ReadReq::Builder fill_read(Op::Builder op, FileId file, uint64_t offset, std::size_t length) {
  auto r = op.initRead();
  r.initHandle().setValue(file);
  r.setOffset(offset);
  r.setLength(static_cast<uint32_t>(length));
  return r;
}

// An inline read answer, believed only if it is no longer than what was asked.
Result<std::size_t> take_inline(capnp::Data::Reader data, std::span<std::byte> out) {
  if (data.size() > out.size())
    return make_error(EIO, "guest returned more bytes than were asked for");
  std::memcpy(out.data(), data.begin(), data.size());
  return std::size_t{data.size()};
}

void set_creds(wire::Request::Builder request, const Creds& creds) {
  auto c = request.initCreds();
  c.setUid(creds.uid);
  c.setGid(creds.gid);
}

}  // namespace

RemoteFsScheme::RemoteFsScheme(std::shared_ptr<GuestChannel> channel, uint16_t export_index,
                               bool read_only)
    : channel_(std::move(channel)), export_index_(export_index), read_only_(read_only) {}

std::size_t RemoteFsScheme::max_io() const {
  return wire::INLINE_DATA_MAX;
}

template <typename Fill>
Result<frame::Frame> RemoteFsScheme::call(const Creds& creds, Fill&& fill) {
  auto message = std::make_unique<capnp::MallocMessageBuilder>();
  auto request = message->initRoot<wire::Message>().initRequest();
  request.setExport(export_index_);
  set_creds(request, creds);
  fill(request.getOp());
  return channel_->call(std::move(message));
}

Result<Attr> RemoteFsScheme::getattr(const RelPath& path, bool follow) {
  return expect_attr(call({}, [&](Op::Builder op) {
    auto g = op.initGetattr();
    set_path(path, g);
    g.setFollow(follow);
  }));
}

Result<Attr> RemoteFsScheme::fgetattr(FileId file) {
  return expect_attr(
      call({}, [&](Op::Builder op) { op.initGetattr().initHandle().setValue(file); }));
}

Result<Attr> RemoteFsScheme::setattr(const RelPath& path, const SetAttr& changes) {
  return expect_attr(call({}, [&](Op::Builder op) {
    auto s = op.initSetattr();
    set_path(path, s);
    codec::encode_changes(changes, s);
  }));
}

Result<Attr> RemoteFsScheme::fsetattr(FileId file, const SetAttr& changes) {
  return expect_attr(call({}, [&](Op::Builder op) {
    auto s = op.initSetattr();
    s.initHandle().setValue(file);
    codec::encode_changes(changes, s);
  }));
}

Result<OpenedFile> RemoteFsScheme::open(const RelPath& path, const OpenFlags& flags, uint32_t mode,
                                        const Creds& creds) {
  auto reply = call(creds, [&](Op::Builder op) {
    auto o = flags.create ? op.initCreate() : op.initOpen();
    set_path(path, o);
    codec::encode(flags, o.initFlags());
    o.setMode(mode);
  });
  return expect<OpenedFile>(std::move(reply), Which::OPENED, [](auto r) {
    auto opened = r.getOpened();
    return OpenedFile{opened.getHandle().getValue(), codec::decode(opened.getAttr())};
  });
}

Result<std::size_t> RemoteFsScheme::read(FileId file, uint64_t offset, std::span<std::byte> out) {
  out = out.first(std::min(out.size(), max_io()));
  if (auto region = channel_->region(); region && !out.empty()) {
    if (auto lease = region->allocator.allocate(out.size()))
      return read_region(*region, std::move(*lease), file, offset, out);
  }
  return read_inline(file, offset, out);
}

Result<std::size_t> RemoteFsScheme::read_inline(FileId file, uint64_t offset,
                                                std::span<std::byte> out) {
  auto reply = call({}, [&](Op::Builder op) { fill_read(op, file, offset, out.size()); });
  return expect<std::size_t>(std::move(reply), Which::DATA, [&](auto r) -> Result<std::size_t> {
    auto payload = r.getData();
    if (!payload.isInline())
      return make_error(EIO, "guest answered a read through a region it was not given");
    return take_inline(payload.getInline(), out);
  });
}

Result<std::size_t> RemoteFsScheme::read_region(GuestRegion& region, RegionLease lease, FileId file,
                                                uint64_t offset, std::span<std::byte> out) {
  auto reply = call({}, [&](Op::Builder op) {
    auto into = fill_read(op, file, offset, out.size()).initInto();
    into.setOffset(lease.offset());
    into.setLength(lease.length());
  });
  if (!reply && (reply.code() == ETIMEDOUT || reply.code() == EIO)) quarantine(std::move(lease));
  return expect<std::size_t>(std::move(reply), Which::DATA, [&](auto r) -> Result<std::size_t> {
    auto payload = r.getData();
    // Allowed: a guest may answer small reads inline.
    if (payload.isInline()) return take_inline(payload.getInline(), out);
    auto ref = payload.getRegion();
    // Never the guest's arithmetic: its range must be ours and no longer than asked.
    if (!lease.covers(ref.getOffset(), ref.getLength()))
      return make_error(EIO, "guest answered a read with a region range it was not given");
    if (ref.getLength() > out.size())
      return make_error(EIO, "guest returned more bytes than were asked for");
    auto bytes = region.mapping.slice(ref.getOffset(), ref.getLength());
    if (!bytes) return make_error(EIO, bytes.error().context);
    std::memcpy(out.data(), bytes->data(), bytes->size());
    if (!region_read_logged_.exchange(true))
      spdlog::info(
          "export #{}: file reads go through the shared region (first: {} bytes at "
          "region offset {})",
          export_index_, bytes->size(), ref.getOffset());
    return std::size_t{bytes->size()};
  });
}

Result<std::size_t> RemoteFsScheme::write(FileId file, uint64_t offset,
                                          std::span<const std::byte> data) {
  data = data.first(std::min(data.size(), max_io()));
  if (auto region = channel_->region(); region && !data.empty()) {
    if (auto lease = region->allocator.allocate(data.size()))
      return write_region(*region, std::move(*lease), file, offset, data);
  }
  return write_inline(file, offset, data);
}

namespace {

Result<std::size_t> expect_written(Result<frame::Frame> reply, std::size_t length) {
  return expect<std::size_t>(std::move(reply), Which::WRITTEN, [&](auto r) -> Result<std::size_t> {
    if (r.getWritten() > length)
      return make_error(EIO, "guest claims to have written more than it was sent");
    return std::size_t{r.getWritten()};
  });
}

}  // namespace

Result<std::size_t> RemoteFsScheme::write_inline(FileId file, uint64_t offset,
                                                 std::span<const std::byte> data) {
  auto reply = call({}, [&](Op::Builder op) {
    auto w = op.initWrite();
    w.initHandle().setValue(file);
    w.setOffset(offset);
    // INVARIANT: std::byte and capnp's byte are both one-byte object representations.
    w.initData().setInline(
        kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
  });
  return expect_written(std::move(reply), data.size());
}

Result<std::size_t> RemoteFsScheme::write_region(GuestRegion& region, RegionLease lease,
                                                 FileId file, uint64_t offset,
                                                 std::span<const std::byte> data) {
  auto bytes = region.mapping.slice(lease.offset(), data.size());
  if (!bytes) return make_error(EIO, bytes.error().context);  // the allocator's bug, not I/O
  std::memcpy(bytes->data(), data.data(), data.size());
  auto reply = call({}, [&](Op::Builder op) {
    auto w = op.initWrite();
    w.initHandle().setValue(file);
    w.setOffset(offset);
    auto ref = w.initData().initRegion();
    ref.setOffset(lease.offset());
    ref.setLength(data.size());
  });
  if (!reply && (reply.code() == ETIMEDOUT || reply.code() == EIO)) quarantine(std::move(lease));
  return expect_written(std::move(reply), data.size());
}

void RemoteFsScheme::quarantine(RegionLease lease) {
  std::lock_guard lock(quarantine_mu_);
  quarantined_.push_back(std::move(lease));
}

Status RemoteFsScheme::fsync(FileId file, bool data_only) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto f = op.initFsync();
    f.initHandle().setValue(file);
    f.setDataOnly(data_only);
  }));
}

Status RemoteFsScheme::close(FileId file) {
  return expect_done(call({}, [&](Op::Builder op) { op.initClose().initHandle().setValue(file); }));
}

Result<DirPage> RemoteFsScheme::readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                                        bool with_attrs) {
  auto reply = call({}, [&](Op::Builder op) {
    auto r = op.initReaddir();
    set_path(dir, r);
    r.setCookie(cookie);
    r.setMaxEntries(max_entries);
    r.setWithAttrs(with_attrs);
  });
  return expect<DirPage>(std::move(reply), Which::ENTRIES,
                         [](auto r) { return codec::decode(r.getEntries()); });
}

Result<Attr> RemoteFsScheme::mkdir(const RelPath& path, uint32_t mode, const Creds& creds) {
  return expect_attr(call(creds, [&](Op::Builder op) {
    auto m = op.initMkdir();
    set_path(path, m);
    m.setMode(mode);
  }));
}

Status RemoteFsScheme::unlink(const RelPath& path) {
  return expect_done(call({}, [&](Op::Builder op) { set_path(path, op.initUnlink()); }));
}

Status RemoteFsScheme::rmdir(const RelPath& path) {
  return expect_done(call({}, [&](Op::Builder op) { set_path(path, op.initRmdir()); }));
}

Status RemoteFsScheme::rename(const RelPath& from, const RelPath& to, RenameFlags flags) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto r = op.initRename();
    codec::set_path(from, [&](unsigned n) { return r.initFrom(n); });
    codec::set_path(to, [&](unsigned n) { return r.initTo(n); });
    r.setNoReplace(flags.no_replace);
    r.setExchange(flags.exchange);
  }));
}

Result<Attr> RemoteFsScheme::symlink(const RelPath& path, std::string_view target,
                                     const Creds& creds) {
  return expect_attr(call(creds, [&](Op::Builder op) {
    auto s = op.initSymlink();
    set_path(path, s);
    s.setTarget(capnp::Text::Reader(target.data(), target.size()));
  }));
}

Result<std::string> RemoteFsScheme::readlink(const RelPath& path) {
  auto reply = call({}, [&](Op::Builder op) { set_path(path, op.initReadlink()); });
  return expect<std::string>(std::move(reply), Which::TARGET, [](auto r) -> Result<std::string> {
    auto target = r.getTarget();
    if (target.size() > 4095) return make_error(EIO, "guest returned an over-long symlink target");
    return std::string(target.cStr(), target.size());
  });
}

Result<Attr> RemoteFsScheme::link(const RelPath& existing, const RelPath& new_path) {
  return expect_attr(call({}, [&](Op::Builder op) {
    auto l = op.initLink();
    codec::set_path(existing, [&](unsigned n) { return l.initExisting(n); });
    codec::set_path(new_path, [&](unsigned n) { return l.initNewPath(n); });
  }));
}

Result<StatFs> RemoteFsScheme::statfs() {
  auto reply = call({}, [&](Op::Builder op) { op.initStatfs(); });
  return expect<StatFs>(std::move(reply), Which::STATFS,
                        [](auto r) { return codec::decode(r.getStatfs()); });
}

namespace {
template <typename Builder>
void set_xattr(Builder x, const RelPath& path, std::string_view name) {
  set_path(path, x);
  x.setName(capnp::Text::Reader(name.data(), name.size()));
}
}  // namespace

Result<std::vector<uint8_t>> RemoteFsScheme::getxattr(const RelPath& path, std::string_view name) {
  auto reply = call({}, [&](Op::Builder op) { set_xattr(op.initGetxattr(), path, name); });
  return expect<std::vector<uint8_t>>(std::move(reply), Which::XATTR_VALUE, [](auto r) {
    auto v = r.getXattrValue();
    return std::vector<uint8_t>(v.begin(), v.end());
  });
}

Status RemoteFsScheme::setxattr(const RelPath& path, std::string_view name,
                                std::span<const uint8_t> value, XattrSetFlags flags) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto x = op.initSetxattr();
    set_xattr(x, path, name);
    x.setValue(kj::arrayPtr(value.data(), value.size()));
    x.setCreateOnly(flags.create_only);
    x.setReplaceOnly(flags.replace_only);
  }));
}

Result<std::vector<std::string>> RemoteFsScheme::listxattr(const RelPath& path) {
  auto reply = call({}, [&](Op::Builder op) { set_path(path, op.initListxattr()); });
  return expect<std::vector<std::string>>(std::move(reply), Which::XATTR_NAMES, [](auto r) {
    std::vector<std::string> names;
    for (auto name : r.getXattrNames()) names.emplace_back(name.cStr(), name.size());
    return names;
  });
}

Status RemoteFsScheme::removexattr(const RelPath& path, std::string_view name) {
  return expect_done(
      call({}, [&](Op::Builder op) { set_xattr(op.initRemovexattr(), path, name); }));
}

Result<std::vector<SubvolInfo>> RemoteFsScheme::list_subvolumes() {
  auto reply = call({}, [](Op::Builder op) { op.initSubvol().setList(); });
  return expect<std::vector<SubvolInfo>>(std::move(reply), Which::SUBVOLS,
                                         [](auto r) { return codec::decode(r.getSubvols()); });
}

Status RemoteFsScheme::create_subvolume(const RelPath& path) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto s = op.initSubvol();
    codec::set_path(path, [&](unsigned n) { return s.initCreate(n); });
  }));
}

Status RemoteFsScheme::snapshot(const RelPath& source, const RelPath& dest, bool read_only) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto s = op.initSubvol().initSnapshot();
    codec::set_path(source, [&](unsigned n) { return s.initSource(n); });
    codec::set_path(dest, [&](unsigned n) { return s.initDest(n); });
    s.setReadOnly(read_only);
  }));
}

Status RemoteFsScheme::delete_subvolume(const RelPath& path) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto s = op.initSubvol();
    codec::set_path(path, [&](unsigned n) { return s.initDelete(n); });
  }));
}

Result<uint64_t> RemoteFsScheme::default_subvolume() {
  auto reply = call({}, [](Op::Builder op) { op.initSubvol().setGetDefault(); });
  return expect<uint64_t>(std::move(reply), Which::SUBVOL_ID,
                          [](auto r) { return r.getSubvolId(); });
}

Status RemoteFsScheme::set_default_subvolume(const RelPath& path) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto s = op.initSubvol();
    codec::set_path(path, [&](unsigned n) { return s.initSetDefault(n); });
  }));
}

Result<bool> RemoteFsScheme::subvolume_read_only(const RelPath& path) {
  auto reply = call({}, [&](Op::Builder op) {
    auto s = op.initSubvol();
    codec::set_path(path, [&](unsigned n) { return s.initGetReadOnly(n); });
  });
  return expect<bool>(std::move(reply), Which::READ_ONLY, [](auto r) { return r.getReadOnly(); });
}

Status RemoteFsScheme::set_subvolume_read_only(const RelPath& path, bool read_only) {
  return expect_done(call({}, [&](Op::Builder op) {
    auto s = op.initSubvol().initSetReadOnly();
    set_path(path, s);
    s.setReadOnly(read_only);
  }));
}

void RemoteFsScheme::forward(wire::Request::Reader request, RequestForwarder::Completion done) {
  auto message = std::make_unique<capnp::MallocMessageBuilder>();
  try {
    message->initRoot<wire::Message>().setRequest(request);  // deep copy, bounded by the frame
  } catch (const kj::Exception& e) {
    return done(make_error(EPROTO, std::string("malformed request: ") + e.getDescription().cStr()));
  }
  auto copy = message->getRoot<wire::Message>().getRequest();
  copy.setExport(export_index_);
  // A control client has no region: a range it names would be one the host never set aside
  // for it (another request's data, or a framebuffer). Only inline data is forwarded.
  auto op = copy.getOp();
  if ((op.isRead() && op.getRead().getInto().getLength() != 0) ||
      (op.isWrite() && op.getWrite().getData().isRegion()))
    return done(make_error(EFAULT, "forwarded requests may not name shared-region ranges"));
  channel_->submit(std::move(message), std::move(done));
}

}  // namespace bridge
