// Writes the seed corpus for fuzz_frame: one well-formed frame per message shape a daemon sees
// (hello, each request family, each response family, events), plus a multi-segment frame and
// two frames back to back. Usage: fuzz_frame_seeds DIR. tools/fuzz-smoke.sh runs it before each
// fuzzing session, so the seeds follow the schema; tests/fuzz/corpus/frame/ holds a committed copy
// for running the fuzzer by hand.
#include <capnp/message.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "schema/frame.h"
#include "schema/fs_codec.h"

namespace {

using namespace bridge;
using Fill = std::function<void(wire::Message::Builder)>;

RelPath path_of(const char* text) {
  return std::move(RelPath::parse(text)).value();
}

template <typename Init>
void put_path(const char* text, Init&& init) {
  codec::set_path(path_of(text), std::forward<Init>(init));
}

Attr sample_attr() {
  Attr a;
  a.ino = 12;
  a.mode = 0100644;
  a.nlink = 1;
  a.size = 4096;
  a.blocks = 8;
  a.mtime = {1700000000, 5};
  return a;
}

wire::Request::Op::Builder request(wire::Message::Builder m, uint64_t id) {
  auto req = m.initRequest();
  req.setId(id);
  req.initCreds().setUid(1000);
  return req.initOp();
}

wire::Response::Result::Builder response(wire::Message::Builder m, uint64_t id) {
  auto resp = m.initResponse();
  resp.setId(id);
  return resp.initResult();
}

void hello(wire::Message::Builder m) {
  auto h = m.initHello();
  h.setMajor(wire::PROTOCOL_MAJOR);
  h.setRole(wire::Hello::Role::GUEST);
  h.setName("fsvm");
  auto e = h.initExports(2);
  e[0].setName("ext4");
  e[0].setEngine("ext2fs");
  e[1].setName("display.bochs");
  e[1].setKind(wire::Export::Kind::DISPLAY);
  e[1].setEngine("drm");
  h.initRegion().setSize(1 << 24);
}

void req_getattr(wire::Message::Builder m) {
  auto g = request(m, 1).initGetattr();
  put_path("/home/user/file", [&](unsigned n) { return g.initPath(n); });
}

void req_setattr(wire::Message::Builder m) {
  auto s = request(m, 2).initSetattr();
  put_path("/a", [&](unsigned n) { return s.initPath(n); });
  SetAttr changes;
  changes.mode = 0600;
  changes.size = 10;
  changes.mtime = {TimeSet::Kind::at, {1, 2}};
  codec::encode_changes(changes, s);
}

void req_open(wire::Message::Builder m) {
  auto o = request(m, 3).initCreate();
  put_path("/dir/new", [&](unsigned n) { return o.initPath(n); });
  codec::encode(OpenFlags{.write = true, .create = true}, o.initFlags());
  o.setMode(0644);
}

void req_write(wire::Message::Builder m) {
  auto w = request(m, 4).initWrite();
  w.initHandle().setValue(0x100000002ull);
  w.setOffset(512);
  w.initData().setInline(kj::StringPtr("hello, world").asBytes());
}

// File data through the shared region: a read into a range, a write from one.
void req_read_into(wire::Message::Builder m) {
  auto r = request(m, 7).initRead();
  r.initHandle().setValue(0x100000002ull);
  r.setOffset(0);
  r.setLength(4096);
  auto into = r.initInto();
  into.setOffset(8192);
  into.setLength(4096);
}

void req_write_region(wire::Message::Builder m) {
  auto w = request(m, 8).initWrite();
  w.initHandle().setValue(0x100000002ull);
  w.setOffset(0);
  auto ref = w.initData().initRegion();
  ref.setOffset(4096);
  ref.setLength(12);
}

void req_readdir(wire::Message::Builder m) {
  auto r = request(m, 5).initReaddir();
  put_path("/etc", [&](unsigned n) { return r.initPath(n); });
  r.setMaxEntries(64);
  r.setWithAttrs(true);
}

void req_rename(wire::Message::Builder m) {
  auto r = request(m, 6).initRename();
  put_path("/a/b", [&](unsigned n) { return r.initFrom(n); });
  put_path("/c", [&](unsigned n) { return r.initTo(n); });
}

void req_xattr(wire::Message::Builder m) {
  auto x = request(m, 7).initSetxattr();
  put_path("/f", [&](unsigned n) { return x.initPath(n); });
  x.setName("user.tag");
  x.setValue(kj::StringPtr("v").asBytes());
}

void req_snapshot(wire::Message::Builder m) {
  auto s = request(m, 8).initSubvol().initSnapshot();
  put_path("/vol", [&](unsigned n) { return s.initSource(n); });
  put_path("/snap", [&](unsigned n) { return s.initDest(n); });
}

void req_drm(wire::Message::Builder m) {
  auto c = request(m, 9).initDrm().initSetCrtc();
  c.setCrtc(31);
  c.initConnectors(1).set(0, 33);
  c.initMode().setName("1024x768");
}

void resp_attr(wire::Message::Builder m) {
  codec::encode(sample_attr(), response(m, 1).initAttr());
}

void resp_opened(wire::Message::Builder m) {
  auto o = response(m, 3).initOpened();
  o.initHandle().setValue(7);
  codec::encode(sample_attr(), o.initAttr());
}

void resp_entries(wire::Message::Builder m) {
  DirPage page;
  for (const char* name : {"bin", "etc", "home"})
    page.entries.push_back(DirEntry{name, 2, 4, sample_attr()});
  page.next_cookie = 3;
  codec::encode(page, response(m, 5).initEntries());
}

void resp_statfs(wire::Message::Builder m) {
  codec::encode(StatFs{4096, 4096, 1000, 500, 400, 100, 50, 255}, response(m, 10).initStatfs());
}

void resp_error(wire::Message::Builder m) {
  response(m, 11).setError(wire::Errno::NOENT);
  m.getResponse().setMessage("no such file");
}

void resp_subvols(wire::Message::Builder m) {
  auto s = response(m, 12).initSubvols(1)[0];
  s.setId(256);
  s.setPath("vol");
  s.setUuid(kj::StringPtr("0123456789abcdef").asBytes());
}

void resp_drm(wire::Message::Builder m) {
  auto c = response(m, 13).initDrm().initConnector();
  c.setConnected(true);
  c.initModes(1)[0].setHdisplay(1024);
}

void event_flip(wire::Message::Builder m) {
  auto v = m.initEvent().initFlipDone();
  v.setCrtc(31);
  v.setCookie(99);
}

void goodbye(wire::Message::Builder m) {
  m.initGoodbye().setReason("protocol major 2 unknown");
}

void cancel(wire::Message::Builder m) {
  m.initCancel().setId(5);
}

bool write_file(const std::string& path, kj::ArrayPtr<const kj::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  // INVARIANT: kj::byte is unsigned char; ostream::write takes the same bytes as char.
  out.write(reinterpret_cast<const char*>(bytes.begin()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

kj::Array<capnp::word> build(const Fill& fill, uint32_t first_segment_words = 1024) {
  capnp::MallocMessageBuilder builder(first_segment_words, capnp::AllocationStrategy::FIXED_SIZE);
  fill(builder.initRoot<wire::Message>());
  return frame::encode(builder);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR  (writes fuzz_frame seed files into DIR)\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<std::pair<const char*, Fill>> seeds = {
      {"hello", hello},
      {"req-getattr", req_getattr},
      {"req-setattr", req_setattr},
      {"req-create", req_open},
      {"req-write", req_write},
      {"req-read-into", req_read_into},
      {"req-write-region", req_write_region},
      {"req-readdir", req_readdir},
      {"req-rename", req_rename},
      {"req-setxattr", req_xattr},
      {"req-snapshot", req_snapshot},
      {"req-drm", req_drm},
      {"resp-attr", resp_attr},
      {"resp-opened", resp_opened},
      {"resp-entries", resp_entries},
      {"resp-statfs", resp_statfs},
      {"resp-error", resp_error},
      {"resp-subvols", resp_subvols},
      {"resp-drm", resp_drm},
      {"event-flip", event_flip},
      {"goodbye", goodbye},
      {"cancel", cancel},
  };
  for (const auto& [name, fill] : seeds) {
    if (!write_file(dir + "/" + name + ".bin", build(fill).asBytes())) {
      std::fprintf(stderr, "fuzz_frame_seeds: cannot write %s/%s.bin\n", dir.c_str(), name);
      return 1;
    }
  }
  // Shapes the framing code must handle: many small segments, and two frames in one read.
  bool ok = write_file(dir + "/multi-segment.bin", build(resp_entries, 16).asBytes());
  std::vector<kj::byte> stream;
  for (const Fill& fill : {Fill(req_getattr), Fill(resp_error)}) {
    const auto words = build(fill);
    stream.insert(stream.end(), words.asBytes().begin(), words.asBytes().end());
  }
  ok = ok && write_file(dir + "/two-frames.bin", kj::arrayPtr(stream.data(), stream.size()));
  if (!ok) std::fprintf(stderr, "fuzz_frame_seeds: cannot write to %s\n", dir.c_str());
  return ok ? 0 : 1;
}
