// The ext2fs engine's write workloads on real images. Every test ends the same way: destroy the
// engine, require `e2fsck -fn` to pass, reopen the image and check that the changes persisted.
#include "bridge-guest/engines/ext2fs/ext2fs_engine.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "ext2fs_test_support.h"

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;
using namespace testing;

class Ext2fsWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_.path() / "src";
    img_ = tmp_.path() / "img";
    write_file(src_ / "hello.txt", "hello world\n");
    write_file(src_ / "dir/sub/deep.txt", "deep\n");
    write_file(src_ / "dir/file2", "two\n");
    write_file(src_ / "other/o.txt", "o\n");
    fs::create_directories(src_ / "empty");
    fs::create_directories(src_ / "empty2");
    fs::create_symlink("nowhere/new.txt", src_ / "dangling");
  }

  void build(const std::string& type = "ext4", const std::string& size = "64M",
             const std::string& extra = "") {
    ASSERT_NO_FATAL_FAILURE(make_image(img_, src_, type, size, extra));
    reopen();
  }

  void reopen() {
    engine_.reset();
    auto e = open_ext2fs_engine(img_.string(), false);
    ASSERT_TRUE(e.ok()) << e.error().context;
    engine_ = std::move(e).value();
    ASSERT_FALSE(engine_->read_only()) << engine_->note();
  }

  // Closes the engine and requires a clean e2fsck; then reopens.
  void check_and_reopen() {
    engine_.reset();
    auto r = fsck(img_);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
    reopen();
  }

  FsEngine& e() { return *engine_; }

  std::unique_ptr<OpenFile> open_file(const std::string& path, OpenFlags flags,
                                      uint32_t mode = 0644, Creds creds = {}) {
    auto f = engine_->open(P(path), flags, mode, creds);
    EXPECT_TRUE(f.ok()) << path << ": " << (f.ok() ? "" : f.error().context);
    return f.ok() ? std::move(f).value() : nullptr;
  }

  static std::span<const std::byte> bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
  }

  uint32_t nlink(const std::string& path) {
    auto a = engine_->getattr(P(path), false);
    EXPECT_TRUE(a.ok()) << path;
    return a.ok() ? a->nlink : 0;
  }

  TempDir tmp_;
  fs::path src_, img_;
  std::unique_ptr<FsEngine> engine_;
};

TEST_F(Ext2fsWriteTest, CreateWriteAppendTruncate) {
  build();
  Creds creds{1234, 5678};
  {
    auto f = open_file("new.txt", create_flags(true), 0640, creds);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->write(0, bytes("abc")).value(), 3u);
    auto a = f->getattr();
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->size, 3u);
    EXPECT_EQ(a->mode, S_IFREG | 0640u);
    EXPECT_EQ(a->uid, 1234u);
    EXPECT_EQ(a->gid, 5678u);
    EXPECT_EQ(a->nlink, 1u);
  }
  EXPECT_EQ(e().open(P("new.txt"), create_flags(true), 0644, {}).code(), EEXIST);
  {
    OpenFlags append = rw_flags();
    append.append = true;
    auto f = open_file("new.txt", append);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->write(0, bytes("def")).value(), 3u);  // offset ignored: appends
  }
  EXPECT_EQ(read_all(e(), "new.txt"), "abcdef");
  {
    auto f = open_file("new.txt", rw_flags());
    ASSERT_TRUE(f);
    ASSERT_EQ(f->write(10, bytes("X")).value(), 1u);  // a hole between 6 and 10
  }
  EXPECT_EQ(read_all(e(), "new.txt"), std::string("abcdef\0\0\0\0X", 11));
  {
    OpenFlags trunc = rw_flags();
    trunc.truncate = true;
    auto f = open_file("hello.txt", trunc);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->getattr()->size, 0u);
  }
  // Creating through a dangling symlink creates its target, inside the image.
  EXPECT_EQ(e().open(P("dangling"), create_flags(), 0644, {}).code(), ENOENT);  // nowhere/ missing
  ASSERT_TRUE(e().mkdir(P("nowhere"), 0755, {}).ok());
  {
    auto f = open_file("dangling", create_flags());
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->write(0, bytes("via link")).ok());
  }
  EXPECT_EQ(read_all(e(), "nowhere/new.txt"), "via link");
  EXPECT_EQ(e().open(P("missing/x"), create_flags(), 0644, {}).code(), ENOENT);
  EXPECT_EQ(e().open(P("hello.txt/x"), create_flags(), 0644, {}).code(), ENOTDIR);

  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(read_all(e(), "new.txt"), std::string("abcdef\0\0\0\0X", 11));
  EXPECT_EQ(read_all(e(), "hello.txt"), "");
  EXPECT_EQ(read_all(e(), "nowhere/new.txt"), "via link");
  EXPECT_EQ(e().getattr(P("new.txt"), false)->uid, 1234u);
}

TEST_F(Ext2fsWriteTest, SixtyFourMebibyteRandomFileRoundTrips) {
  build("ext4", "160M", "-b 4096");
  const std::string data = random_bytes(64u << 20, 42);
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "big.bin", data, 1 << 20));
  EXPECT_TRUE(read_all(e(), "big.bin", 1 << 20) == data);
  {
    // Small reads at odd offsets take the buffered path.
    auto f = open_file("big.bin", ro_flags());
    ASSERT_TRUE(f);
    std::vector<std::byte> buf(1000);
    for (uint64_t off : {0ull, 4095ull, 4096ull, 1234567ull, (64ull << 20) - 500}) {
      auto n = f->read(off, buf);
      ASSERT_TRUE(n.ok());
      ASSERT_EQ(*n, std::min<uint64_t>(1000, data.size() - off));
      EXPECT_EQ(std::memcmp(buf.data(), data.data() + off, *n), 0) << off;
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_TRUE(read_all(e(), "big.bin", 1 << 20) == data);
  EXPECT_TRUE(read_all(e(), "big.bin", 128 * 1024 + 7) == data);
  // An independent reader agrees: debugfs's own dump of the file.
  engine_.reset();
  auto out = tmp_.path() / "dumped";
  auto r = run("debugfs -R " + quote("dump /big.bin " + out.string()) + " " + quote(img_.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(read_host_file(out) == data);
}

TEST_F(Ext2fsWriteTest, SetattrModeOwnerSizeAndTimes) {
  build();
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "f", "0123456789abcdef"));
  Timestamp before = [] {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return Timestamp{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
  }();
  SetAttr c;
  c.mode = 04751;
  c.uid = 100000;  // needs the high 16 bits
  c.gid = 200001;
  c.size = 10;
  c.mtime = {TimeSet::Kind::at, {1234567890, 123456789}};
  c.atime = {TimeSet::Kind::now, {}};
  auto a = e().setattr(P("f"), c);
  ASSERT_TRUE(a.ok()) << a.error().context;
  EXPECT_EQ(a->mode, S_IFREG | 04751u);
  EXPECT_EQ(a->uid, 100000u);
  EXPECT_EQ(a->gid, 200001u);
  EXPECT_EQ(a->size, 10u);
  EXPECT_EQ(a->mtime, (Timestamp{1234567890, 123456789}));
  EXPECT_GE(a->atime.sec, before.sec);
  EXPECT_GE(a->ctime.sec, before.sec);
  EXPECT_EQ(read_all(e(), "f"), "0123456789");

  SetAttr grow;
  grow.size = 100000;
  ASSERT_TRUE(e().setattr(P("f"), grow).ok());
  std::string grown = read_all(e(), "f");
  EXPECT_EQ(grown.size(), 100000u);
  EXPECT_EQ(grown.substr(0, 10), "0123456789");
  EXPECT_EQ(grown.find_first_not_of('\0', 10), std::string::npos);

  SetAttr far_future;
  far_future.mtime = {TimeSet::Kind::at, {5000000000, 7}};  // needs the epoch bits
  ASSERT_TRUE(e().setattr(P("f"), far_future).ok());
  SetAttr on_dir;
  on_dir.size = 0;
  EXPECT_EQ(e().setattr(P("dir"), on_dir).code(), EISDIR);
  EXPECT_EQ(e().setattr(P("nope"), c).code(), ENOENT);

  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  auto after = e().getattr(P("f"), false);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->mode, S_IFREG | 04751u);
  EXPECT_EQ(after->uid, 100000u);
  EXPECT_EQ(after->gid, 200001u);
  EXPECT_EQ(after->size, 100000u);
  EXPECT_EQ(after->mtime, (Timestamp{5000000000, 7}));
  // Cross-check the owner with debugfs.
  engine_.reset();
  auto r = run("debugfs -R 'stat /f' " + quote(img_.string()));
  EXPECT_NE(r.output.find("User: 100000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Group: 200001"), std::string::npos) << r.output;
  // 5000000000 s = epoch 1 + 0x2a05f200; extra = epoch | 7 ns << 2.
  EXPECT_NE(r.output.find("mtime: 0x2a05f200:0000001d"), std::string::npos) << r.output;
}

TEST_F(Ext2fsWriteTest, SetattrThroughAnOpenFileAndSharedHandles) {
  build();
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "f", std::string(10000, 'a')));
  auto f1 = open_file("f", rw_flags());
  auto f2 = open_file("f", ro_flags());
  ASSERT_TRUE(f1 && f2);
  ASSERT_TRUE(f1->write(0, bytes("BBB")).ok());
  std::vector<std::byte> buf(3);
  ASSERT_EQ(f2->read(0, buf).value(), 3u);
  EXPECT_EQ(std::memcmp(buf.data(), "BBB", 3), 0);
  SetAttr shrink;
  shrink.size = 2;
  ASSERT_TRUE(e().setattr(P("f"), shrink).ok());  // path truncate while open
  EXPECT_EQ(f2->getattr()->size, 2u);
  SetAttr regrow;
  regrow.size = 5000;
  ASSERT_TRUE(f1->setattr(regrow).ok());
  std::string now = read_all(e(), "f");
  ASSERT_EQ(now.size(), 5000u);
  EXPECT_EQ(now.substr(0, 2), "BB");
  EXPECT_EQ(now.find_first_not_of('\0', 2), std::string::npos);  // no stale "B" or "a"
  SetAttr chmod;
  chmod.mode = 0600;
  ASSERT_TRUE(e().setattr(P("f"), chmod).ok());
  ASSERT_TRUE(f1->write(5000, bytes("tail")).ok());  // must not restore the old mode
  EXPECT_EQ(e().getattr(P("f"), false)->mode, S_IFREG | 0600u);
  EXPECT_TRUE(f1->fsync(true).ok());
  EXPECT_TRUE(f1->fsync(false).ok());
  f1.reset();
  f2.reset();
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().getattr(P("f"), false)->size, 5004u);
}

TEST_F(Ext2fsWriteTest, MkdirAndRmdir) {
  build();
  uint32_t root_links = nlink("");
  auto d = e().mkdir(P("d"), 0750, Creds{7, 8});
  ASSERT_TRUE(d.ok()) << d.error().context;
  EXPECT_EQ(d->mode, S_IFDIR | 0750u);
  EXPECT_EQ(d->nlink, 2u);
  EXPECT_EQ(d->uid, 7u);
  EXPECT_EQ(nlink(""), root_links + 1);
  ASSERT_TRUE(e().mkdir(P("d/e"), 0755, {}).ok());
  EXPECT_EQ(nlink("d"), 3u);
  EXPECT_EQ(e().mkdir(P("d"), 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(P("hello.txt"), 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(RelPath{}, 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(P("missing/d"), 0755, {}).code(), ENOENT);
  EXPECT_EQ(e().mkdir(P("hello.txt/d"), 0755, {}).code(), ENOTDIR);
  EXPECT_EQ(e().rmdir(P("d")).code(), ENOTEMPTY);
  EXPECT_EQ(e().rmdir(P("hello.txt")).code(), ENOTDIR);
  EXPECT_EQ(e().rmdir(P("nope")).code(), ENOENT);
  EXPECT_EQ(e().rmdir(RelPath{}).code(), EBUSY);
  ASSERT_TRUE(e().rmdir(P("d/e")).ok());
  EXPECT_EQ(nlink("d"), 2u);
  EXPECT_TRUE(list_dir(e(), "d").empty());
  // A set-group-ID directory hands its group down.
  SetAttr sgid;
  sgid.mode = 02775;
  sgid.gid = 4242;
  ASSERT_TRUE(e().setattr(P("d"), sgid).ok());
  auto child = e().mkdir(P("d/child"), 0700, Creds{1, 2});
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(child->gid, 4242u);
  EXPECT_TRUE(child->mode & S_ISGID);

  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(nlink("d"), 3u);
  ASSERT_TRUE(e().rmdir(P("d/child")).ok());
  ASSERT_TRUE(e().rmdir(P("d")).ok());
  EXPECT_EQ(nlink(""), root_links);
  EXPECT_EQ(e().getattr(P("d"), false).code(), ENOENT);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().getattr(P("d"), false).code(), ENOENT);
}

TEST_F(Ext2fsWriteTest, UnlinkFreesInodeAndBlocks) {
  build();
  auto before = e().statfs();
  ASSERT_TRUE(before.ok());
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "blob", random_bytes(3 << 20, 5)));
  auto during = e().statfs();
  EXPECT_LT(during->blocks_free, before->blocks_free);
  EXPECT_EQ(during->files_free, before->files_free - 1);
  ASSERT_TRUE(e().unlink(P("blob")).ok());
  auto after = e().statfs();
  EXPECT_EQ(after->blocks_free, before->blocks_free);
  EXPECT_EQ(after->files_free, before->files_free);
  EXPECT_EQ(e().getattr(P("blob"), false).code(), ENOENT);
  EXPECT_EQ(e().unlink(P("blob")).code(), ENOENT);
  EXPECT_EQ(e().unlink(P("dir")).code(), EISDIR);
  EXPECT_EQ(e().unlink(RelPath{}).code(), EISDIR);
  ASSERT_TRUE(e().unlink(P("dangling")).ok());  // the link, not its target
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().statfs()->blocks_free, before->blocks_free);
}

TEST_F(Ext2fsWriteTest, UnlinkWhileOpenKeepsDataUntilClose) {
  build();
  auto before = e().statfs();
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "tmp", std::string(200000, 'q')));
  auto f = open_file("tmp", rw_flags());
  ASSERT_TRUE(f);
  ASSERT_TRUE(e().unlink(P("tmp")).ok());
  EXPECT_EQ(e().getattr(P("tmp"), false).code(), ENOENT);
  EXPECT_EQ(f->getattr()->nlink, 0u);
  ASSERT_TRUE(f->write(200000, bytes("more")).ok());
  std::vector<std::byte> buf(4);
  ASSERT_EQ(f->read(199998, buf).value(), 4u);
  EXPECT_EQ(std::memcmp(buf.data(), "qqmo", 4), 0);
  EXPECT_TRUE(e().sync().ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "not clean");  // orphan still open
  f.reset();
  EXPECT_EQ(e().statfs()->blocks_free, before->blocks_free);
  EXPECT_TRUE(e().sync().ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

TEST_F(Ext2fsWriteTest, RenameFollowsLinuxRules) {
  build();
  uint32_t root_links = nlink("");
  // Plain file rename, then over an existing file (which is freed).
  ASSERT_TRUE(e().rename(P("hello.txt"), P("h2"), {}).ok());
  EXPECT_EQ(read_all(e(), "h2"), "hello world\n");
  EXPECT_EQ(e().getattr(P("hello.txt"), false).code(), ENOENT);
  ASSERT_TRUE(e().rename(P("h2"), P("dir/file2"), {}).ok());
  EXPECT_EQ(read_all(e(), "dir/file2"), "hello world\n");
  // Errors.
  EXPECT_EQ(e().rename(P("nope"), P("x"), {}).code(), ENOENT);
  EXPECT_EQ(e().rename(P("dir/file2"), P("empty"), {}).code(), EISDIR);
  EXPECT_EQ(e().rename(P("empty"), P("dir/file2"), {}).code(), ENOTDIR);
  EXPECT_EQ(e().rename(P("empty"), P("dir"), {}).code(), ENOTEMPTY);
  EXPECT_EQ(e().rename(P("dir"), P("dir/sub/inside"), {}).code(), EINVAL);
  EXPECT_EQ(e().rename(P("dir"), P("dir/x"), {}).code(), EINVAL);
  EXPECT_EQ(e().rename(RelPath{}, P("x"), {}).code(), EBUSY);
  EXPECT_EQ(e().rename(P("dir/file2"), P("other/o.txt"), RenameFlags{true, false}).code(), EEXIST);
  EXPECT_EQ(e().rename(P("dir/file2"), P("missing/x"), {}).code(), ENOENT);
  // Same inode: nothing happens.
  ASSERT_TRUE(e().rename(P("dir/file2"), P("dir/file2"), {}).ok());
  // Directory moved across parents: ".." and both link counts follow.
  uint32_t other_links = nlink("other");
  ASSERT_TRUE(e().rename(P("dir/sub"), P("other/sub"), {}).ok());
  EXPECT_EQ(nlink("dir"), 2u);
  EXPECT_EQ(nlink("other"), other_links + 1);
  EXPECT_EQ(read_all(e(), "other/sub/deep.txt"), "deep\n");
  ASSERT_TRUE(e().symlink(P("other/sub/up"), "../o.txt", {}).ok());
  EXPECT_EQ(read_all(e(), "other/sub/up"), "o\n");  // resolves through the new ".."
  // Directory over an empty directory, in the same parent.
  ASSERT_TRUE(e().rename(P("empty"), P("empty2"), {}).ok());
  EXPECT_EQ(nlink(""), root_links - 1);
  EXPECT_EQ(e().getattr(P("empty"), false).code(), ENOENT);
  // Exchange a file and a directory across parents.
  ASSERT_TRUE(e().rename(P("other/o.txt"), P("dir"), RenameFlags{false, true}).ok());
  EXPECT_EQ(nlink("other"), other_links + 2);
  EXPECT_EQ(nlink(""), root_links - 2);
  EXPECT_EQ(read_all(e(), "dir"), "o\n");
  EXPECT_EQ(read_all(e(), "other/o.txt/file2"), "hello world\n");
  EXPECT_EQ(e().rename(P("dir"), P("nope"), RenameFlags{false, true}).code(), ENOENT);
  EXPECT_EQ(e().rename(P("dir"), P("other"), RenameFlags{true, true}).code(), EINVAL);

  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(read_all(e(), "other/o.txt/file2"), "hello world\n");
  EXPECT_EQ(read_all(e(), "other/sub/deep.txt"), "deep\n");
  EXPECT_EQ(nlink("other"), other_links + 2);  // sub, and the directory now called o.txt
  EXPECT_EQ(nlink(""), root_links - 2);        // empty and dir are gone from the root
}

TEST_F(Ext2fsWriteTest, SymlinksFastAndSlow) {
  build();
  auto fast = e().symlink(P("fast"), "hello.txt", Creds{3, 4});
  ASSERT_TRUE(fast.ok()) << fast.error().context;
  EXPECT_TRUE(S_ISLNK(fast->mode));
  EXPECT_EQ(fast->uid, 3u);
  std::string long_target = "dir/" + std::string(300, 'p') + "/../file2";
  ASSERT_TRUE(e().symlink(P("slow"), long_target, {}).ok());
  EXPECT_EQ(e().readlink(P("slow")).value(), long_target);
  EXPECT_EQ(read_all(e(), "fast"), "hello world\n");
  EXPECT_EQ(e().symlink(P("fast"), "x", {}).code(), EEXIST);
  EXPECT_EQ(e().symlink(P("bad"), "", {}).code(), ENOENT);
  EXPECT_EQ(e().symlink(P("huge"), std::string(1024, 'h'), {}).code(), ENAMETOOLONG);  // 1K blocks
  EXPECT_TRUE(e().symlink(P("max"), std::string(1023, 'h'), {}).ok());
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().readlink(P("fast")).value(), "hello.txt");
  EXPECT_EQ(e().readlink(P("slow")).value(), long_target);
  EXPECT_EQ(e().readlink(P("max")).value(), std::string(1023, 'h'));
  ASSERT_TRUE(e().unlink(P("slow")).ok());
  ASSERT_TRUE(e().unlink(P("fast")).ok());
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

TEST_F(Ext2fsWriteTest, HardLinks) {
  build();
  auto a = e().link(P("hello.txt"), P("dir/again"));
  ASSERT_TRUE(a.ok()) << a.error().context;
  EXPECT_EQ(a->nlink, 2u);
  EXPECT_EQ(e().getattr(P("dir/again"), false)->ino, e().getattr(P("hello.txt"), false)->ino);
  EXPECT_EQ(e().link(P("dir"), P("dir2")).code(), EPERM);
  EXPECT_EQ(e().link(P("hello.txt"), P("dir/file2")).code(), EEXIST);
  EXPECT_EQ(e().link(P("nope"), P("x")).code(), ENOENT);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  ASSERT_TRUE(e().unlink(P("hello.txt")).ok());
  EXPECT_EQ(read_all(e(), "dir/again"), "hello world\n");
  EXPECT_EQ(nlink("dir/again"), 1u);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(read_all(e(), "dir/again"), "hello world\n");
}

TEST_F(Ext2fsWriteTest, XattrsRoundTrip) {
  build();
  auto v = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.a").code(), ENODATA);
  ASSERT_TRUE(e().setxattr(P("hello.txt"), "user.a", v("one"), {}).ok());
  ASSERT_TRUE(e().setxattr(P("hello.txt"), "trusted.t", v("two"), {}).ok());
  ASSERT_TRUE(e().setxattr(P("hello.txt"), "user.big", v(std::string(700, 'b')), {}).ok());
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.a").value(), v("one"));
  EXPECT_EQ(e().setxattr(P("hello.txt"), "user.a", v("x"), XattrSetFlags{true, false}).code(),
            EEXIST);
  EXPECT_EQ(e().setxattr(P("hello.txt"), "user.z", v("x"), XattrSetFlags{false, true}).code(),
            ENODATA);
  ASSERT_TRUE(e().setxattr(P("hello.txt"), "user.a", v("uno"), XattrSetFlags{false, true}).ok());
  EXPECT_EQ(e().setxattr(P("hello.txt"), "bogus.a", v("x"), {}).code(), EOPNOTSUPP);
  EXPECT_EQ(e().setxattr(P("dangling"), "user.a", v("x"), {}).code(), EPERM);
  EXPECT_EQ(e().removexattr(P("hello.txt"), "user.none").code(), ENODATA);
  EXPECT_EQ(e().getxattr(P("nope"), "user.a").code(), ENOENT);
  // An xattr change while the file is open must survive the open file's next write.
  auto f = open_file("hello.txt", rw_flags());
  ASSERT_TRUE(e().setxattr(P("hello.txt"), "user.open", v("yes"), {}).ok());
  ASSERT_TRUE(f->write(0, bytes("H")).ok());
  f.reset();
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  auto names = e().listxattr(P("hello.txt"));
  ASSERT_TRUE(names.ok());
  std::set<std::string> set(names->begin(), names->end());
  EXPECT_EQ(set, (std::set<std::string>{"user.a", "trusted.t", "user.big", "user.open"}));
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.a").value(), v("uno"));
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.big").value(), v(std::string(700, 'b')));
  ASSERT_TRUE(e().removexattr(P("hello.txt"), "user.big").ok());
  ASSERT_TRUE(e().removexattr(P("hello.txt"), "user.a").ok());
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.a").code(), ENODATA);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().listxattr(P("hello.txt"))->size(), 2u);
  engine_.reset();
  auto r = run("debugfs -R 'ea_list /hello.txt' " + quote(img_.string()));
  EXPECT_NE(r.output.find("user.open"), std::string::npos) << r.output;
}

// With ea_inode, a large value lives in an inode of its own. The engine reads such values and
// releases them on unlink, but refuses xattr changes there (libext2fs 1.47.0 leaves the owner's
// i_blocks wrong: debugfs shows the same damage, repaired here by e2fsck -fy).
TEST_F(Ext2fsWriteTest, XattrValuesInTheirOwnInodes) {
  ASSERT_NO_FATAL_FAILURE(make_image(img_, src_, "ext4", "64M", "-b 1024 -O ea_inode"));
  // debugfs reads at most one block of value; on 1 KiB blocks 1020 bytes need an inode.
  const std::string big = random_bytes(1020, 11);
  write_file(tmp_.path() / "value", big);
  auto r = run("debugfs -w -R " +
               quote("ea_set -f " + (tmp_.path() / "value").string() + " /hello.txt user.huge") +
               " " + quote(img_.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("e2fsck -fy " + quote(img_.string()));
  ASSERT_LE(r.status, 1) << r.output;
  ASSERT_EQ(fsck(img_).status, 0);
  ASSERT_NO_FATAL_FAILURE(reopen());

  std::vector<uint8_t> value(big.begin(), big.end());
  EXPECT_EQ(e().getxattr(P("hello.txt"), "user.huge").value(), value);
  EXPECT_EQ(e().setxattr(P("hello.txt"), "user.x", value, {}).code(), EOPNOTSUPP);
  EXPECT_EQ(e().removexattr(P("hello.txt"), "user.huge").code(), EOPNOTSUPP);
  auto before = e().statfs();
  ASSERT_TRUE(e().unlink(P("hello.txt")).ok());
  EXPECT_EQ(e().statfs()->files_free, before->files_free + 2);  // the file and the value's inode
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

TEST_F(Ext2fsWriteTest, DirectoriesGrowAndPageStably) {
  build();
  ASSERT_TRUE(e().mkdir(P("lots"), 0755, {}).ok());
  for (int i = 0; i < 600; ++i) {
    auto f = e().open(P("lots/file-number-" + std::to_string(i)), create_flags(true), 0644, {});
    ASSERT_TRUE(f.ok()) << i << ": " << f.error().context;
  }
  EXPECT_GT(e().getattr(P("lots"), false)->size, 1024u * 10);  // grew past many 1K blocks
  // Page through, deleting entries behind and ahead of the cursor: no duplicates, nothing
  // that survives is missed.
  std::set<std::string> seen;
  std::set<std::string> deleted;
  uint64_t cookie = 0;
  for (int pages = 0;; ++pages) {
    auto page = e().readdir(P("lots"), cookie, 25, false);
    ASSERT_TRUE(page.ok());
    for (auto& entry : page->entries) {
      EXPECT_TRUE(seen.insert(entry.name).second) << "duplicate " << entry.name;
      EXPECT_FALSE(deleted.count(entry.name)) << "deleted entry seen " << entry.name;
    }
    if (page->end) break;
    cookie = page->next_cookie;
    if (pages == 3) {
      for (int i = 0; i < 600; i += 7) {
        std::string name = "file-number-" + std::to_string(i);
        if (seen.count(name)) continue;
        ASSERT_TRUE(e().unlink(P("lots/" + name)).ok());
        deleted.insert(name);
      }
    }
  }
  EXPECT_EQ(seen.size() + deleted.size(), 600u);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(list_dir(e(), "lots", 1000).size(), 600u - deleted.size());
}

// Directories the kernel (or e2fsck -D) built are hash-indexed: entries go in through the htree.
TEST_F(Ext2fsWriteTest, HashedDirectories) {
  for (int i = 0; i < 1500; ++i) write_file(src_ / "hashed" / ("h-" + std::to_string(i)), "");
  ASSERT_NO_FATAL_FAILURE(make_image(img_, src_, "ext4", "64M"));
  auto r = run("e2fsck -fyD " + quote(img_.string()));
  ASSERT_LE(r.status, 1) << r.output;  // 1: "file system was modified" (re-indexed)
  r = run("debugfs -R 'htree /hashed' " + quote(img_.string()));
  ASSERT_NE(r.output.find("Root node dump"), std::string::npos) << "not indexed: " << r.output;
  ASSERT_NO_FATAL_FAILURE(reopen());

  std::set<std::string> expected;
  for (int i = 0; i < 1500; ++i) expected.insert("h-" + std::to_string(i));
  for (int i = 0; i < 2500; ++i) {  // enough to split leaves and grow the index
    std::string name = "added-with-a-long-name-" + std::to_string(i);
    ASSERT_TRUE(e().open(P("hashed/" + name), create_flags(true), 0644, {}).ok()) << i;
    expected.insert(name);
  }
  for (int i = 0; i < 1500; i += 3) {
    ASSERT_TRUE(e().unlink(P("hashed/h-" + std::to_string(i))).ok());
    expected.erase("h-" + std::to_string(i));
  }
  ASSERT_TRUE(e().rename(P("hashed/h-1"), P("hashed/renamed"), {}).ok());
  expected.erase("h-1");
  expected.insert("renamed");
  ASSERT_TRUE(e().mkdir(P("hashed/subdir"), 0755, {}).ok());
  expected.insert("subdir");
  auto listed = list_dir(e(), "hashed", 33);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
  EXPECT_EQ(listed.size(), expected.size());
  EXPECT_EQ(e().getattr(P("hashed/added-with-a-long-name-2499"), false).code(), 0);
  EXPECT_EQ(e().getattr(P("hashed/h-0"), false).code(), ENOENT);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  listed = list_dir(e(), "hashed", 1000);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
}

// With inline_data, small files and directories live inside their inodes.
TEST_F(Ext2fsWriteTest, InlineDataFilesAndDirectories) {
  write_file(src_ / "small/a", "tiny");
  ASSERT_NO_FATAL_FAILURE(build("ext4", "64M", "-O inline_data"));
  auto r = run("debugfs -R 'stat /small' " + quote(img_.string()));
  ASSERT_NE(r.output.find("Size of inline data"), std::string::npos) << r.output;
  EXPECT_EQ(read_all(e(), "small/a"), "tiny");
  EXPECT_EQ(list_dir(e(), "small"), (std::vector<std::string>{"a"}));
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "small/b", "also tiny"));
  {
    auto f = open_file("small/a", rw_flags());
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->write(4, bytes(std::string(10000, 'g'))).ok());  // leaves the inode
  }
  std::set<std::string> expected{"a", "b"};
  for (int i = 0; i < 40; ++i) {  // outgrows the inline directory
    std::string name = "name-" + std::to_string(i);
    ASSERT_TRUE(e().open(P("small/" + name), create_flags(true), 0644, {}).ok()) << i;
    expected.insert(name);
  }
  auto listed = list_dir(e(), "small", 5);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
  // A directory moved across parents while its "..", like its entries, lives in the inode.
  ASSERT_TRUE(e().mkdir(P("inl"), 0755, {}).ok());
  ASSERT_TRUE(e().mkdir(P("inl/child"), 0755, {}).ok());
  ASSERT_TRUE(e().rename(P("inl/child"), P("dir/child"), {}).ok());
  ASSERT_TRUE(e().symlink(P("dir/child/up"), "../file2", {}).ok());
  EXPECT_EQ(read_all(e(), "dir/child/up"), "two\n");
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(read_all(e(), "small/a"), "tiny" + std::string(10000, 'g'));
  EXPECT_EQ(read_all(e(), "small/b"), "also tiny");
  listed = list_dir(e(), "small", 7);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), expected);
}

TEST_F(Ext2fsWriteTest, RunningOutOfSpaceLeavesAConsistentImage) {
  ASSERT_NO_FATAL_FAILURE(build("ext4", "8M", "-N 64 -m 0"));
  // Blocks: write until the disk is full; the last write is short or fails with ENOSPC.
  auto f = open_file("fill", create_flags());
  ASSERT_TRUE(f);
  const std::string chunk = random_bytes(256 * 1024, 1);
  uint64_t off = 0;
  int code = 0;
  for (int i = 0; i < 100 && code == 0; ++i) {
    auto n = f->write(off, bytes(chunk));
    if (!n.ok()) code = n.code();
    if (n.ok()) off += *n;
    if (n.ok() && *n < chunk.size()) code = ENOSPC;
  }
  EXPECT_EQ(code, ENOSPC);
  EXPECT_GT(off, 4u << 20);
  f.reset();
  EXPECT_EQ(e().mkdir(P("nospace"), 0755, {}).code(), ENOSPC);
  // Inodes: create files until there are none left.
  int created = 0;
  for (; created < 100; ++created) {
    auto g = e().open(P("i" + std::to_string(created)), create_flags(true), 0644, {});
    if (!g.ok()) {
      EXPECT_EQ(g.code(), ENOSPC) << g.error().context;
      break;
    }
  }
  EXPECT_LT(created, 100);
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_EQ(e().getattr(P("fill"), false)->size, off);
  std::string stored = read_all(e(), "fill");
  ASSERT_EQ(stored.size(), off);
  for (uint64_t at = 0; at + chunk.size() <= off; at += chunk.size())
    ASSERT_TRUE(stored.compare(at, chunk.size(), chunk) == 0) << at;
  // Shrinking a file that holds the filesystem's last block (a libext2fs 1.47.0 punch bug).
  SetAttr half;
  half.size = off / 2 + 1;
  auto shrunk = e().setattr(P("fill"), half);
  ASSERT_TRUE(shrunk.ok()) << shrunk.error().context;
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  auto removed = e().unlink(P("fill"));
  ASSERT_TRUE(removed.ok()) << removed.error().context;
  auto made = e().mkdir(P("nospace"), 0755, {});
  ASSERT_TRUE(made.ok()) << made.error().context;
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

TEST_F(Ext2fsWriteTest, DirtyMarkingFollowsMutations) {
  build();
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
  ASSERT_TRUE(e().getattr(P("hello.txt"), false).ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
  ASSERT_TRUE(e().mkdir(P("m"), 0755, {}).ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "not clean");
  ASSERT_TRUE(e().sync().ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
  EXPECT_EQ(fsck(img_).status, 0);  // sync leaves a consistent image behind
  ASSERT_TRUE(e().rmdir(P("m")).ok());
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "not clean");
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

// Runs `work` on a fresh engine in a child process, then SIGKILLs the child: no destructor runs.
void run_and_kill(const fs::path& img, const std::function<void(FsEngine&)>& work) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto e = open_ext2fs_engine(img.string(), false);
    if (!e.ok()) ::_exit(2);
    work(**e);
    (void)!::write(ready[1], "x", 1);
    for (;;) ::pause();
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(Ext2fsWriteTest, KilledSessionsLeaveAnHonestImage) {
  build();
  engine_.reset();
  // A reader killed mid-session leaves the image byte for byte as it was.
  std::string before = sha256(img_);
  ASSERT_NO_FATAL_FAILURE(run_and_kill(img_, [](FsEngine& e) {
    (void)e.getattr(P("hello.txt"), false);
    (void)list_dir(e, "dir");
    (void)read_all(e, "hello.txt");
  }));
  EXPECT_EQ(sha256(img_), before);
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "clean");
  // A writer killed mid-session leaves it marked for checking; the next open serves it read-only.
  ASSERT_NO_FATAL_FAILURE(run_and_kill(img_, [](FsEngine& e) {
    (void)e.mkdir(P("killed"), 0755, {});
    write_all(e, "killed/file", std::string(100000, 'k'));
  }));
  EXPECT_EQ(superblock_field(img_, "Filesystem state"), "not clean");
  {
    auto e = open_ext2fs_engine(img_.string(), false);
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE((*e)->read_only());
    EXPECT_NE((*e)->note().find("not cleanly unmounted"), std::string::npos);
  }
  auto r = run("e2fsck -fy " + quote(img_.string()));
  EXPECT_LE(r.status, 1) << r.output;
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

TEST_F(Ext2fsWriteTest, Ext2SmallInodesWorkload) {
  build("ext2", "16M", "-b 1024 -I 128");
  const std::string data = random_bytes(700 * 1024 + 3, 9);  // reaches double-indirect blocks
  ASSERT_NO_FATAL_FAILURE(write_all(e(), "dir/data", data, 64 * 1024));
  EXPECT_TRUE(read_all(e(), "dir/data") == data);
  EXPECT_TRUE(read_all(e(), "dir/data", 1000) == data);
  ASSERT_TRUE(e().mkdir(P("d"), 0755, {}).ok());
  ASSERT_TRUE(e().rename(P("dir/data"), P("d/data"), {}).ok());
  ASSERT_TRUE(e().rename(P("dir/sub"), P("d/sub"), {}).ok());
  ASSERT_TRUE(e().symlink(P("d/l"), std::string(100, 's'), {}).ok());
  ASSERT_TRUE(e().setxattr(P("d/data"), "user.k", std::vector<uint8_t>{1, 2, 3}, {}).ok());
  SetAttr t;
  t.mtime = {TimeSet::Kind::at, {1000000000, 999}};
  auto a = e().setattr(P("d/data"), t);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mtime, (Timestamp{1000000000, 0}));  // 128-byte inodes keep no nanoseconds
  ASSERT_TRUE(e().unlink(P("dir/file2")).ok());
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
  EXPECT_TRUE(read_all(e(), "d/data") == data);
  EXPECT_EQ(read_all(e(), "d/sub/deep.txt"), "deep\n");
  EXPECT_EQ(e().getxattr(P("d/data"), "user.k").value(), (std::vector<uint8_t>{1, 2, 3}));
  SetAttr shrink;
  shrink.size = 5000;
  ASSERT_TRUE(e().setattr(P("d/data"), shrink).ok());
  EXPECT_TRUE(read_all(e(), "d/data") == data.substr(0, 5000));
  ASSERT_NO_FATAL_FAILURE(check_and_reopen());
}

}  // namespace
}  // namespace bridge::guest
