#include "schema/fs_codec.h"

#include <gtest/gtest.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <string>
#include <vector>

namespace bridge::codec {
namespace {

Attr sample_attr(uint64_t seed) {
  Attr a;
  a.ino = seed;
  a.mode = 0100644;
  a.nlink = 2;
  a.uid = 1000;
  a.gid = 100;
  a.size = (uint64_t{1} << 40) + seed;
  a.blocks = 8;
  a.blksize = 65536;
  a.rdev = 0x0801;
  a.atime = {-5, 1};
  a.mtime = {1700000000, 999999999};
  a.ctime = {int64_t{1} << 40, 500};
  return a;
}

void expect_same(const Attr& a, const Attr& b) {
  EXPECT_EQ(a.ino, b.ino);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.nlink, b.nlink);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.blocks, b.blocks);
  EXPECT_EQ(a.blksize, b.blksize);
  EXPECT_EQ(a.rdev, b.rdev);
  EXPECT_EQ(a.atime, b.atime);
  EXPECT_EQ(a.mtime, b.mtime);
  EXPECT_EQ(a.ctime, b.ctime);
}

TEST(FsCodec, AttrRoundTrips) {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<wire::Attr>();
  encode(sample_attr(7), out);
  expect_same(decode(out.asReader()), sample_attr(7));
}

TEST(FsCodec, NanosecondsAtOrAboveOneSecondAreClamped) {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<wire::Attr>();
  out.initAtime().setNsec(1'000'000'000);
  out.initMtime().setNsec(0x3fffffff);  // UTIME_NOW's value must not survive as itself
  out.initCtime().setNsec(0xffffffff);
  const Attr a = decode(out.asReader());
  EXPECT_EQ(a.atime.nsec, 999'999'999u);
  EXPECT_EQ(a.mtime.nsec, 999'999'999u);
  EXPECT_EQ(a.ctime.nsec, 999'999'999u);

  TimeSet t{TimeSet::Kind::at, {3, 2'000'000'000}};
  auto ts = m.initRoot<wire::TimeSet>();
  encode(t, ts);
  EXPECT_EQ(ts.getAt().getNsec(), 999'999'999u);  // clamped on the way out as well
}

TEST(FsCodec, StatFsRoundTrips) {
  StatFs s{4096, 1024, 1u << 30, 12345, 12000, 1u << 20, 999, 255};
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<wire::StatFs>();
  encode(s, out);
  const StatFs d = decode(out.asReader());
  EXPECT_EQ(d.block_size, s.block_size);
  EXPECT_EQ(d.fragment_size, s.fragment_size);
  EXPECT_EQ(d.blocks, s.blocks);
  EXPECT_EQ(d.blocks_free, s.blocks_free);
  EXPECT_EQ(d.blocks_available, s.blocks_available);
  EXPECT_EQ(d.files, s.files);
  EXPECT_EQ(d.files_free, s.files_free);
  EXPECT_EQ(d.name_max, s.name_max);
}

TEST(FsCodec, EveryOpenFlagsCombinationRoundTrips) {
  for (unsigned bits = 0; bits < 256; ++bits) {
    OpenFlags f;
    bool* fields[] = {&f.read,   &f.write,     &f.append,    &f.truncate,
                      &f.create, &f.exclusive, &f.directory, &f.no_follow};
    for (unsigned i = 0; i < 8; ++i) *fields[i] = (bits >> i) & 1;
    capnp::MallocMessageBuilder m;
    auto out = m.initRoot<wire::OpenFlags>();
    encode(f, out);
    const OpenFlags d = decode(out.asReader());
    const bool got[] = {d.read,   d.write,     d.append,    d.truncate,
                        d.create, d.exclusive, d.directory, d.no_follow};
    for (unsigned i = 0; i < 8; ++i) EXPECT_EQ(got[i], *fields[i]) << bits << " bit " << i;
  }
}

TEST(FsCodec, TimeSetRoundTrips) {
  for (auto kind : {TimeSet::Kind::omit, TimeSet::Kind::now, TimeSet::Kind::at}) {
    TimeSet t{kind, kind == TimeSet::Kind::at ? Timestamp{99, 42} : Timestamp{}};
    capnp::MallocMessageBuilder m;
    auto out = m.initRoot<wire::TimeSet>();
    encode(t, out);
    const TimeSet d = decode(out.asReader());
    EXPECT_EQ(d.kind, t.kind);
    EXPECT_EQ(d.at, t.at);
  }
}

TEST(FsCodec, SetAttrChangesRoundTrip) {
  SetAttr all;
  all.mode = 0755;
  all.uid = 0;  // zero must stay "set", not collapse into "absent"
  all.gid = 5;
  all.size = 1ull << 33;
  all.atime = {TimeSet::Kind::now, {}};
  all.mtime = {TimeSet::Kind::at, {10, 20}};
  for (const SetAttr& in : {all, SetAttr{}}) {
    capnp::MallocMessageBuilder m;
    auto out = m.initRoot<wire::SetattrReq>();
    encode_changes(in, out);
    const SetAttr d = decode_changes(out.asReader());
    EXPECT_EQ(d.mode, in.mode);
    EXPECT_EQ(d.uid, in.uid);
    EXPECT_EQ(d.gid, in.gid);
    EXPECT_EQ(d.size, in.size);
    EXPECT_EQ(d.atime.kind, in.atime.kind);
    EXPECT_EQ(d.mtime.kind, in.mtime.kind);
    EXPECT_EQ(d.mtime.at, in.mtime.at);
  }
}

TEST(FsCodec, SetAttrModeKeepsPermissionBitsOnly) {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<wire::SetattrReq>();
  out.setSetMode(true);
  out.setMode(0140000 | 04755);  // socket type bits from a hostile peer
  EXPECT_EQ(decode_changes(out.asReader()).mode, 04755u);
}

// A List(Text) holding `parts` exactly as given (no validation on the way in).
struct RawPath {
  capnp::MallocMessageBuilder m;
  capnp::List<capnp::Text>::Reader list;
  explicit RawPath(const std::vector<std::string>& parts) {
    auto b = m.initRoot<wire::PathReq>().initPath(static_cast<unsigned>(parts.size()));
    for (unsigned i = 0; i < parts.size(); ++i)
      b.set(i, capnp::Text::Reader(parts[i].data(), parts[i].size()));
    list = m.getRoot<wire::PathReq>().asReader().getPath();
  }
};

TEST(FsCodec, PathsRoundTrip) {
  for (const char* text : {"/", "/a", "/home/user/.bashrc", "/x y/\xff\xfe/..."}) {
    auto path = RelPath::parse(text);
    ASSERT_TRUE(path.ok()) << text;
    capnp::MallocMessageBuilder m;
    auto req = m.initRoot<wire::PathReq>();
    set_path(*path, [&](unsigned n) { return req.initPath(n); });
    auto back = decode_path(req.asReader().getPath());
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(*back, *path) << text;
  }
}

TEST(FsCodec, LongestLegalPathDecodes) {
  RawPath raw(std::vector<std::string>(wire::PATH_COMPONENTS_MAX, std::string(255, 'n')));
  auto p = decode_path(raw.list);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), wire::PATH_COMPONENTS_MAX);
}

TEST(FsCodec, HostilePathsAreRefused) {
  struct Case {
    std::vector<std::string> parts;
    int code;
  };
  const Case cases[] = {
      {{".."}, EINVAL},
      {{"a", "..", "b"}, EINVAL},
      {{"."}, EINVAL},
      {{"a/b"}, EINVAL},
      {{"/"}, EINVAL},
      {{""}, EINVAL},
      {{"ok", ""}, EINVAL},
      {{std::string("a\0b", 3)}, EINVAL},
      {{std::string(256, 'x')}, ENAMETOOLONG},
      {std::vector<std::string>(wire::PATH_COMPONENTS_MAX + 1, "a"), ENAMETOOLONG},
  };
  for (const auto& c : cases) {
    RawPath raw(c.parts);
    auto r = decode_path(raw.list);
    ASSERT_FALSE(r.ok()) << c.parts.size() << " parts, first '" << c.parts[0] << "'";
    EXPECT_EQ(r.code(), c.code) << c.parts.size() << " parts, first '" << c.parts[0] << "'";
  }
}

TEST(FsCodec, TextWithoutNulTerminatorIsEinval) {
  // Build ["abc"], then overwrite the Text's NUL terminator on the wire.
  RawPath raw({"abc"});
  auto words = capnp::messageToFlatArray(raw.m);
  auto bytes = words.asBytes();
  const char needle[] = "abc";  // sizeof includes the NUL
  auto* at = static_cast<kj::byte*>(memmem(bytes.begin(), bytes.size(), needle, sizeof needle));
  ASSERT_NE(at, nullptr);
  at[3] = 'd';
  capnp::FlatArrayMessageReader reader(words);
  auto r = decode_path(reader.getRoot<wire::PathReq>().getPath());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EINVAL);
}

DirPage sample_page(std::size_t n) {
  DirPage page;
  for (std::size_t i = 0; i < n; ++i)
    page.entries.push_back(DirEntry{"f" + std::to_string(i), 100 + i, 8, sample_attr(i)});
  page.next_cookie = 77;
  page.end = true;
  return page;
}

TEST(FsCodec, DirPageRoundTrips) {
  for (std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{wire::READDIR_ENTRIES_MAX}}) {
    const DirPage page = sample_page(n);
    capnp::MallocMessageBuilder m;
    auto out = m.initRoot<wire::DirPage>();
    encode(page, out);
    auto back = decode(out.asReader());
    ASSERT_TRUE(back.ok()) << n;
    ASSERT_EQ(back->entries.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(back->entries[i].name, page.entries[i].name);
      EXPECT_EQ(back->entries[i].ino, page.entries[i].ino);
      EXPECT_EQ(back->entries[i].type, page.entries[i].type);
      expect_same(back->entries[i].attr, page.entries[i].attr);
    }
    EXPECT_EQ(back->next_cookie, 77u);
    EXPECT_TRUE(back->end);
  }
}

TEST(FsCodec, OversizeDirPageRefused) {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<wire::DirPage>();
  encode(sample_page(wire::READDIR_ENTRIES_MAX + 1), out);
  auto r = decode(out.asReader());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), EPROTO);
}

TEST(FsCodec, DirPageWithBadNameRefused) {
  for (const std::string& bad :
       {std::string("."), std::string(".."), std::string(""), std::string("a/b"),
        std::string("n\0ul", 4), std::string(256, 'x')}) {
    DirPage page = sample_page(2);
    page.entries[1].name = bad;
    capnp::MallocMessageBuilder m;
    auto out = m.initRoot<wire::DirPage>();
    encode(page, out);
    auto r = decode(out.asReader());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.code(), EPROTO) << bad;
  }
}

}  // namespace
}  // namespace bridge::codec
