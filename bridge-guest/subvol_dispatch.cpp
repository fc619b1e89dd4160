#include "bridge-guest/subvol_dispatch.h"

#include "schema/fs_codec.h"

namespace bridge::guest {
namespace {

using Req = wire::SubvolReq;

Status done(wire::Response::Builder response, Status status) {
  if (status) response.getResult().setDone();
  return status;
}

Status list(SubvolumeOps& ops, wire::Response::Builder response) {
  auto subvols = ops.list_subvolumes();
  if (!subvols) return subvols.error();
  if (subvols->size() > wire::SUBVOLUMES_MAX)
    return make_error(E2BIG, "more than " + std::to_string(wire::SUBVOLUMES_MAX) + " subvolumes");
  codec::encode(*subvols, response.getResult().initSubvols(static_cast<unsigned>(subvols->size())));
  return {};
}

}  // namespace

Status dispatch_subvol(SubvolumeOps& ops, Req::Reader r, wire::Response::Builder response) {
  auto path_of = [](capnp::List<capnp::Text>::Reader p) { return codec::decode_path(p); };
  switch (r.which()) {
    case Req::LIST:
      return list(ops, response);
    case Req::CREATE: {
      auto p = path_of(r.getCreate());
      if (!p) return p.error();
      return done(response, ops.create_subvolume(*p));
    }
    case Req::SNAPSHOT: {
      auto s = r.getSnapshot();
      auto source = path_of(s.getSource());
      if (!source) return source.error();
      auto dest = path_of(s.getDest());
      if (!dest) return dest.error();
      if (dest->is_root()) return make_error(EEXIST, "snapshot destination is the export root");
      return done(response, ops.snapshot(*source, *dest, s.getReadOnly()));
    }
    case Req::DELETE: {
      auto p = path_of(r.getDelete());
      if (!p) return p.error();
      if (p->is_root()) return make_error(EBUSY, "cannot delete the export root");
      return done(response, ops.delete_subvolume(*p));
    }
    case Req::GET_DEFAULT: {
      auto id = ops.default_subvolume();
      if (!id) return id.error();
      response.getResult().setSubvolId(*id);
      return {};
    }
    case Req::SET_DEFAULT: {
      auto p = path_of(r.getSetDefault());
      if (!p) return p.error();
      return done(response, ops.set_default_subvolume(*p));
    }
    case Req::GET_READ_ONLY: {
      auto p = path_of(r.getGetReadOnly());
      if (!p) return p.error();
      auto ro = ops.subvolume_read_only(*p);
      if (!ro) return ro.error();
      response.getResult().setReadOnly(*ro);
      return {};
    }
    case Req::SET_READ_ONLY: {
      auto s = r.getSetReadOnly();
      auto p = path_of(s.getPath());
      if (!p) return p.error();
      return done(response, ops.set_subvolume_read_only(*p, s.getReadOnly()));
    }
  }
  return make_error(ENOSYS, "unknown subvolume operation (newer host?)");
}

}  // namespace bridge::guest
