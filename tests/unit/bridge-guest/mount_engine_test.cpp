// The mount engine on real ext4 and btrfs filesystems (mkfs + loop mounts): every operation,
// its success and the errno of its failures, confinement against escapes (symlinks, "..",
// magic links), parallel use, read-only exports, and the engine's own mounting of images and
// block devices. Each test exports a fresh directory of a filesystem shared by the suite; a file
// next to that directory ("secret") is what escapes would reach.
#include "bridge-guest/engines/mount/mount_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "mount_test_support.h"

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;
using namespace testing;

const Creds kUser{1000, 1001};

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string text(const std::vector<uint8_t>& v) {
  return {v.begin(), v.end()};
}

struct stat host_lstat(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

class MountEngineTest : public ::testing::TestWithParam<FsKind> {
 protected:
  static void SetUpTestSuite() {
    // The engine must give created objects exactly the requested mode, whatever the umask.
    ::umask(022);
    for (FsKind kind : {FsKind::ext4, FsKind::btrfs}) {
      auto scratch = std::make_unique<ScratchFs>(kind);
      if (scratch->ok()) write_file(scratch->dir() / "secret", "outside the export\n");
      scratch_.emplace(kind, std::move(scratch));
    }
  }
  static void TearDownTestSuite() { scratch_.clear(); }

  void SetUp() override {
    auto& scratch = *scratch_.at(GetParam());
    ASSERT_TRUE(scratch.ok()) << scratch.error();
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '-');
    root_ = scratch.dir() / ("export-" + name);
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto engine = open_mount_engine(root_.string(), false);
    ASSERT_TRUE(engine.ok()) << why(engine);
    engine_ = std::move(engine).value();
  }

  void TearDown() override {
    engine_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  FsEngine& e() { return *engine_; }
  fs::path host(const std::string& rel) const { return root_ / rel; }
  fs::path outside() const { return root_.parent_path(); }

  std::unique_ptr<OpenFile> open_ok(const std::string& path, const OpenFlags& flags,
                                    uint32_t mode = 0644, const Creds& creds = {}) {
    auto f = e().open(P(path), flags, mode, creds);
    EXPECT_TRUE(f.ok()) << path << ": " << why(f);
    return f.ok() ? std::move(f).value() : nullptr;
  }
  int open_errno(const std::string& path, const OpenFlags& flags) {
    return e().open(P(path), flags, 0644, {}).code();
  }

  static inline std::map<FsKind, std::unique_ptr<ScratchFs>> scratch_;
  fs::path root_;
  std::unique_ptr<FsEngine> engine_;
};

INSTANTIATE_TEST_SUITE_P(Fs, MountEngineTest, ::testing::Values(FsKind::ext4, FsKind::btrfs),
                         kind_param_name);

// ---- identity ----

TEST_P(MountEngineTest, IsAParallelReadWriteMountEngineWithoutSubvolumes) {
  EXPECT_EQ(e().engine_name(), "mount");
  EXPECT_TRUE(e().parallel());
  EXPECT_FALSE(e().read_only());
  EXPECT_EQ(e().subvolumes(), nullptr);
}

// ---- getattr / setattr ----

TEST_P(MountEngineTest, GetattrFollowsTheFinalSymlinkOnlyWhenAsked) {
  write_file(host("f"), "abc");
  fs::create_symlink("f", host("l"));
  fs::create_symlink("nowhere", host("dangling"));
  fs::create_directories(host("d"));

  Attr f = attr_of(e(), "f");
  struct stat st = host_lstat(host("f"));
  EXPECT_TRUE(S_ISREG(f.mode));
  EXPECT_EQ(f.size, 3u);
  EXPECT_EQ(f.ino, st.st_ino);
  EXPECT_EQ(f.mtime.sec, st.st_mtim.tv_sec);
  EXPECT_EQ(f.mtime.nsec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
  EXPECT_TRUE(S_ISLNK(attr_of(e(), "l", false).mode));
  EXPECT_TRUE(S_ISREG(attr_of(e(), "l", true).mode));
  EXPECT_TRUE(S_ISDIR(attr_of(e(), "/").mode));
  EXPECT_TRUE(S_ISDIR(attr_of(e(), "d").mode));
  EXPECT_TRUE(S_ISLNK(attr_of(e(), "dangling").mode));
  EXPECT_EQ(e().getattr(P("dangling"), true).code(), ENOENT);
  EXPECT_EQ(e().getattr(P("missing"), false).code(), ENOENT);
  EXPECT_EQ(e().getattr(P("f/x"), false).code(), ENOTDIR);
}

TEST_P(MountEngineTest, SetattrChangesOwnerModeSizeAndTimes) {
  write_file(host("f"), "0123456789abcdef");
  SetAttr c;
  c.uid = 1234;
  c.gid = 5678;
  c.mode = 04750;  // set after the owner change, so the set-user-ID bit survives it
  c.size = 10;
  c.atime = {TimeSet::Kind::at, {1000, 5}};
  c.mtime = {TimeSet::Kind::at, {2000, 7}};
  auto a = e().setattr(P("f"), c);
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_EQ(a->mode, S_IFREG | 04750u);
  EXPECT_EQ(a->uid, 1234u);
  EXPECT_EQ(a->gid, 5678u);
  EXPECT_EQ(a->size, 10u);
  EXPECT_EQ(a->atime, (Timestamp{1000, 5}));
  EXPECT_EQ(a->mtime, (Timestamp{2000, 7}));
  EXPECT_EQ(read_host_file(host("f")), "0123456789");

  SetAttr grow;
  grow.size = 20;
  ASSERT_TRUE(e().setattr(P("f"), grow).ok());
  EXPECT_EQ(read_host_file(host("f")), std::string("0123456789") + std::string(10, '\0'));

  SetAttr now;
  now.mtime.kind = TimeSet::Kind::now;
  const Timestamp atime = attr_of(e(), "f").atime;  // reading the file above may have moved it
  auto b = e().setattr(P("f"), now);
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->mtime.sec, 2000);
  EXPECT_EQ(b->atime, atime);  // omitted: unchanged
}

TEST_P(MountEngineTest, SetattrNeverFollowsTheFinalSymlink) {
  write_file(host("target"), "t");
  fs::create_symlink("target", host("link"));
  SetAttr owner;
  owner.uid = 4321;
  auto a = e().setattr(P("link"), owner);
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_TRUE(S_ISLNK(a->mode));
  EXPECT_EQ(host_lstat(host("link")).st_uid, 4321u);
  EXPECT_EQ(host_lstat(host("target")).st_uid, 0u);

  SetAttr times;
  times.mtime = {TimeSet::Kind::at, {3000, 0}};
  ASSERT_TRUE(e().setattr(P("link"), times).ok());
  EXPECT_EQ(host_lstat(host("link")).st_mtim.tv_sec, 3000);
  EXPECT_NE(host_lstat(host("target")).st_mtim.tv_sec, 3000);

  SetAttr mode;
  mode.mode = 0600;
  EXPECT_EQ(e().setattr(P("link"), mode).code(), EOPNOTSUPP);
  SetAttr size;
  size.size = 0;
  EXPECT_EQ(e().setattr(P("link"), size).code(), EINVAL);
}

TEST_P(MountEngineTest, SetattrFailuresChangeNothing) {
  write_file(host("f"), "x");
  fs::create_directories(host("d"));
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0644), 0);
  SetAttr size;
  size.size = 0;
  size.uid = 77;
  EXPECT_EQ(e().setattr(P("d"), size).code(), EISDIR);
  EXPECT_EQ(e().setattr(P("fifo"), size).code(), EINVAL);
  EXPECT_EQ(host_lstat(host("d")).st_uid, 0u);
  SetAttr bad_time;
  bad_time.uid = 77;
  bad_time.mtime = {TimeSet::Kind::at, {1, 1'000'000'000}};
  EXPECT_EQ(e().setattr(P("f"), bad_time).code(), EINVAL);
  EXPECT_EQ(host_lstat(host("f")).st_uid, 0u);
  EXPECT_EQ(e().setattr(P("missing"), size).code(), ENOENT);
  EXPECT_EQ(e().setattr(P("f/x"), size).code(), ENOTDIR);
  SetAttr huge;
  huge.size = uint64_t{1} << 63;
  EXPECT_EQ(e().setattr(P("f"), huge).code(), EFBIG);

  SetAttr mode;
  mode.mode = 0600;
  auto fifo = e().setattr(P("fifo"), mode);  // a special file's mode changes without opening it
  ASSERT_TRUE(fifo.ok()) << why(fifo);
  EXPECT_EQ(fifo->mode, S_IFIFO | 0600u);
  auto root = e().setattr(RelPath{}, mode);
  ASSERT_TRUE(root.ok()) << why(root);
  EXPECT_EQ(host_lstat(root_).st_mode, S_IFDIR | 0600u);
}

// Kernels before 6.6 have no fchmodat2: setattr then changes the mode through a second, verified
// open of the entry, which is harmless only for files, directories and fifos.
TEST_P(MountEngineTest, ChmodWithoutFchmodat2) {
  write_file(host("f"), "");
  fs::create_directories(host("d"));
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0644), 0);
  ASSERT_EQ(::mknod(host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  auto older_kernel = [this] {
    fail_syscall_with(452 /* fchmodat2 */, ENOSYS);
    SetAttr mode;
    mode.mode = 0604;
    for (const char* path : {"f", "d", "fifo"}) {
      auto a = e().setattr(P(path), mode);
      if (!a.ok() || (a->mode & 07777) != 0604) {
        std::fprintf(stderr, "%s: %s\n", path, why(a).c_str());
        std::_Exit(1);
      }
    }
    std::_Exit(e().setattr(P("null"), mode).code() == EOPNOTSUPP ? 0 : 2);
  };
  EXPECT_EXIT(older_kernel(), ::testing::ExitedWithCode(0), "");
}

// ---- open / OpenFile ----

TEST_P(MountEngineTest, CreateAppliesExactModeAndOwner) {
  auto f = open_ok("new", create_flags(true), 0664, kUser);
  ASSERT_TRUE(f);
  auto a = f->getattr();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, S_IFREG | 0664u);  // umask 022 did not apply
  EXPECT_EQ(a->uid, kUser.uid);
  EXPECT_EQ(a->gid, kUser.gid);
  EXPECT_TRUE(open_ok("suid", create_flags(true), 06755, kUser));
  EXPECT_EQ(attr_of(e(), "suid").mode, S_IFREG | 06755u);

  EXPECT_EQ(open_errno("new", create_flags(true)), EEXIST);
  // Opening an existing file with O_CREAT neither recreates it nor changes its owner.
  ASSERT_TRUE(write_at(*f, 0, "kept"));
  auto again = e().open(P("new"), create_flags(false), 0600, Creds{1, 1});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(attr_of(e(), "new").uid, kUser.uid);
  EXPECT_EQ(attr_of(e(), "new").mode, S_IFREG | 0664u);
  EXPECT_EQ(read_host_file(host("new")), "kept");

  EXPECT_EQ(open_errno("missing", ro_flags()), ENOENT);
  EXPECT_EQ(open_errno("nodir/new", create_flags()), ENOENT);
  EXPECT_EQ(open_errno("new/x", create_flags()), ENOTDIR);
  OpenFlags dir_create = create_flags();
  dir_create.directory = true;
  EXPECT_EQ(open_errno("newdir", dir_create), ENOENT);
}

TEST_P(MountEngineTest, OpenChecksTheObjectLikeLinux) {
  write_file(host("f"), "data");
  fs::create_symlink("f", host("l"));
  fs::create_directories(host("d"));
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0644), 0);
  ASSERT_EQ(::mknod(host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);

  OpenFlags nofollow = ro_flags();
  nofollow.no_follow = true;
  EXPECT_EQ(open_errno("l", nofollow), ELOOP);
  EXPECT_EQ(read_all(e(), "l"), "data");  // followed without no_follow
  OpenFlags dir = ro_flags();
  dir.directory = true;
  EXPECT_EQ(open_errno("f", dir), ENOTDIR);
  EXPECT_EQ(open_errno("d", rw_flags()), EISDIR);
  // Special files are refused without being opened: a fifo would block, a device would act.
  EXPECT_EQ(open_errno("fifo", ro_flags()), ENXIO);
  EXPECT_EQ(open_errno("null", rw_flags()), ENXIO);
  EXPECT_EQ(open_errno("f", create_flags(true)), EEXIST);
  EXPECT_EQ(open_errno("l", create_flags(true)), EEXIST);  // O_EXCL: the name itself is taken

  auto d = open_ok("d", dir);
  ASSERT_TRUE(d);
  std::byte buf[4];
  EXPECT_EQ(d->read(0, buf).code(), EISDIR);
  EXPECT_EQ(d->write(0, std::span<const std::byte>(buf, 1)).code(), EISDIR);
  EXPECT_TRUE(S_ISDIR(d->getattr()->mode));
  EXPECT_TRUE(d->fsync(false).ok());
  SetAttr size;
  size.size = 0;
  EXPECT_EQ(d->setattr(size).code(), EISDIR);
}

TEST_P(MountEngineTest, ReadsAndWritesAtOffsets) {
  auto f = open_ok("f", create_flags());
  ASSERT_TRUE(f);
  ASSERT_TRUE(write_at(*f, 0, "hello world"));
  ASSERT_TRUE(write_at(*f, 6, "WORLD"));
  EXPECT_EQ(read_at(*f, 0, 100), "hello WORLD");  // short only at end of file
  EXPECT_EQ(read_at(*f, 6, 3), "WOR");
  EXPECT_EQ(read_at(*f, 11, 10), "");
  EXPECT_EQ(read_at(*f, 1000, 10), "");
  ASSERT_TRUE(write_at(*f, 1 << 20, "tail"));  // a hole in between
  EXPECT_EQ(f->getattr()->size, (1u << 20) + 4);
  EXPECT_EQ(read_at(*f, 100, 4), std::string(4, '\0'));

  std::string big = random_bytes(3 * 1024 * 1024 + 17, 42);
  write_all(e(), "big", big, 256 * 1024);
  EXPECT_EQ(read_all(e(), "big", 100 * 1000), big);
  EXPECT_EQ(read_host_file(host("big")), big);

  std::byte one[1];
  EXPECT_EQ(f->read(uint64_t{1} << 63, one).code(), EINVAL);
  EXPECT_EQ(f->write(uint64_t{1} << 63, std::span<const std::byte>(one, 1)).code(), EINVAL);
}

TEST_P(MountEngineTest, TruncateAppendAndAccessModes) {
  write_file(host("f"), "old contents");
  OpenFlags trunc = rw_flags();
  trunc.truncate = true;
  auto t = open_ok("f", trunc);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->getattr()->size, 0u);

  write_file(host("log"), "line1\n");
  OpenFlags append = rw_flags();
  append.append = true;
  auto a = open_ok("log", append);
  ASSERT_TRUE(a);
  ASSERT_TRUE(write_at(*a, 0, "line2\n"));  // the offset is ignored: appended
  EXPECT_EQ(read_host_file(host("log")), "line1\nline2\n");

  auto ro = open_ok("log", ro_flags());
  ASSERT_TRUE(ro);
  std::byte b[1]{};
  EXPECT_EQ(ro->write(0, std::span<const std::byte>(b, 1)).code(), EBADF);
  OpenFlags write_only = rw_flags();
  write_only.read = false;
  auto wo = open_ok("log", write_only);
  ASSERT_TRUE(wo);
  EXPECT_EQ(wo->read(0, b).code(), EBADF);
}

TEST_P(MountEngineTest, OpenFileWorksOnItsFdAfterRenames) {
  auto f = open_ok("f", create_flags());
  ASSERT_TRUE(f);
  ASSERT_TRUE(e().rename(P("f"), P("g"), {}).ok());
  ASSERT_TRUE(write_at(*f, 0, "still me"));
  EXPECT_EQ(read_host_file(host("g")), "still me");

  SetAttr c;
  c.uid = 10;
  c.gid = 20;
  c.mode = 0601;
  c.size = 5;
  c.atime = {TimeSet::Kind::at, {111, 1}};
  c.mtime = {TimeSet::Kind::at, {222, 2}};
  auto a = f->setattr(c);
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_EQ(a->mode, S_IFREG | 0601u);
  EXPECT_EQ(a->uid, 10u);
  EXPECT_EQ(a->gid, 20u);
  EXPECT_EQ(a->size, 5u);
  EXPECT_EQ(a->atime, (Timestamp{111, 1}));
  EXPECT_EQ(a->mtime, (Timestamp{222, 2}));
  EXPECT_EQ(attr_of(e(), "g").mtime, (Timestamp{222, 2}));
  EXPECT_TRUE(f->fsync(false).ok());
  EXPECT_TRUE(f->fsync(true).ok());
  SetAttr bad;
  bad.atime = {TimeSet::Kind::at, {1, 2'000'000'000}};
  EXPECT_EQ(f->setattr(bad).code(), EINVAL);
}

// ---- readdir ----

TEST_P(MountEngineTest, ReaddirPagesReturnEveryEntryOnce) {
  std::set<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    std::string name = "entry-" + std::to_string(i) + std::string(40, 'n');
    write_file(host("many/" + name), "");
    expected.insert(name);
  }
  fs::create_directories(host("many/sub"));
  fs::create_symlink("sub", host("many/link"));
  expected.insert({"sub", "link"});
  for (uint32_t page : {1u, 7u, 64u, 1000u}) {
    auto names = list_dir(e(), "many", page);
    std::set<std::string> got(names.begin(), names.end());
    EXPECT_EQ(names.size(), expected.size()) << "page " << page;  // no duplicates
    EXPECT_EQ(got, expected) << "page " << page;
  }
}

TEST_P(MountEngineTest, ReaddirCookiesAreStatelessAndAttrsMatch) {
  write_file(host("d/file"), "12345");
  fs::create_directories(host("d/sub"));
  fs::create_symlink("file", host("d/link"));
  auto first = e().readdir(P("d"), 0, 1, false);
  ASSERT_TRUE(first.ok()) << why(first);
  ASSERT_EQ(first->entries.size(), 1u);
  EXPECT_FALSE(first->end);
  // The same cookie gives the same page, however often and whenever it is used.
  auto second = e().readdir(P("d"), first->next_cookie, 10, true);
  auto again = e().readdir(P("d"), first->next_cookie, 10, true);
  ASSERT_TRUE(second.ok() && again.ok());
  EXPECT_TRUE(second->end);
  ASSERT_EQ(second->entries.size(), 2u);
  ASSERT_EQ(again->entries.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(second->entries[i].name, again->entries[i].name);

  auto all = e().readdir(P("d"), 0, 10, true);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->end);
  ASSERT_EQ(all->entries.size(), 3u);
  std::map<std::string, uint8_t> types{{"file", DT_REG}, {"sub", DT_DIR}, {"link", DT_LNK}};
  for (const auto& entry : all->entries) {
    Attr a = attr_of(e(), "d/" + entry.name);
    EXPECT_EQ(entry.type, types.at(entry.name)) << entry.name;
    EXPECT_EQ(entry.ino, a.ino) << entry.name;
    EXPECT_EQ(entry.attr.ino, a.ino) << entry.name;
    EXPECT_EQ(entry.attr.mode, a.mode) << entry.name;
    EXPECT_EQ(entry.attr.size, a.size) << entry.name;
  }
  auto past = e().readdir(P("d"), all->next_cookie, 10, false);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->end);
  EXPECT_TRUE(past->entries.empty());
}

TEST_P(MountEngineTest, ReaddirFailures) {
  fs::create_directories(host("empty"));
  write_file(host("f"), "");
  fs::create_symlink("empty", host("link"));
  auto empty = e().readdir(P("empty"), 0, 10, false);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->end);
  EXPECT_TRUE(empty->entries.empty());
  EXPECT_EQ(e().readdir(P("empty"), 0, 0, false).code(), EINVAL);
  EXPECT_EQ(e().readdir(P("empty"), uint64_t{1} << 63, 1, false).code(), EINVAL);
  EXPECT_EQ(e().readdir(P("f"), 0, 10, false).code(), ENOTDIR);
  EXPECT_EQ(e().readdir(P("link"), 0, 10, false).code(), ENOTDIR);  // final name not followed
  EXPECT_EQ(e().readdir(P("missing"), 0, 10, false).code(), ENOENT);
}

// ---- mkdir / unlink / rmdir / rename ----

TEST_P(MountEngineTest, MkdirAppliesModeAndOwner) {
  auto a = e().mkdir(P("d"), 0750, kUser);
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_EQ(a->mode, S_IFDIR | 0750u);
  EXPECT_EQ(a->uid, kUser.uid);
  EXPECT_EQ(a->gid, kUser.gid);
  EXPECT_EQ(host_lstat(host("d")).st_mode, S_IFDIR | 0750u);
  auto sticky = e().mkdir(P("d/sticky"), 01777, {});
  ASSERT_TRUE(sticky.ok());
  EXPECT_EQ(sticky->mode, S_IFDIR | 01777u);
  // A set-group-ID parent passes its bit on, as mkdir(2) does.
  ASSERT_EQ(::chmod(host("d").c_str(), 02775), 0);
  auto inherit = e().mkdir(P("d/child"), 0755, kUser);
  ASSERT_TRUE(inherit.ok());
  EXPECT_EQ(inherit->mode, S_IFDIR | 02755u);

  write_file(host("f"), "");
  fs::create_symlink("nowhere", host("dangling"));
  EXPECT_EQ(e().mkdir(P("d"), 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(P("f"), 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(P("dangling"), 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(RelPath{}, 0755, {}).code(), EEXIST);
  EXPECT_EQ(e().mkdir(P("missing/d"), 0755, {}).code(), ENOENT);
  EXPECT_EQ(e().mkdir(P("f/d"), 0755, {}).code(), ENOTDIR);
  EXPECT_FALSE(fs::exists(host("nowhere")));
}

TEST_P(MountEngineTest, UnlinkAndRmdir) {
  write_file(host("f"), "");
  write_file(host("target"), "t");
  fs::create_symlink("target", host("link"));
  fs::create_symlink("d", host("dirlink"));
  write_file(host("full/x"), "");
  fs::create_directories(host("d"));

  EXPECT_TRUE(e().unlink(P("f")).ok());
  EXPECT_FALSE(fs::exists(host("f")));
  EXPECT_TRUE(e().unlink(P("link")).ok());  // the link goes, its target stays
  EXPECT_FALSE(fs::is_symlink(host("link")));
  EXPECT_TRUE(fs::exists(host("target")));
  EXPECT_EQ(e().unlink(P("f")).code(), ENOENT);
  EXPECT_EQ(e().unlink(P("d")).code(), EISDIR);
  EXPECT_EQ(e().unlink(RelPath{}).code(), EISDIR);
  EXPECT_EQ(e().unlink(P("target/x")).code(), ENOTDIR);

  EXPECT_EQ(e().rmdir(P("full")).code(), ENOTEMPTY);
  EXPECT_EQ(e().rmdir(P("target")).code(), ENOTDIR);
  EXPECT_EQ(e().rmdir(P("dirlink")).code(), ENOTDIR);
  EXPECT_EQ(e().rmdir(RelPath{}).code(), EBUSY);
  EXPECT_EQ(e().rmdir(P("missing")).code(), ENOENT);
  EXPECT_TRUE(e().rmdir(P("d")).ok());
  EXPECT_FALSE(fs::exists(host("d")));
}

TEST_P(MountEngineTest, RenameWithAndWithoutFlags) {
  write_file(host("a"), "A");
  write_file(host("b"), "B");
  write_file(host("c"), "C");
  write_file(host("full/x"), "");
  fs::create_directories(host("dir/sub"));
  fs::create_directories(host("empty"));

  ASSERT_TRUE(e().rename(P("a"), P("a2"), {}).ok());
  EXPECT_EQ(read_host_file(host("a2")), "A");
  EXPECT_FALSE(fs::exists(host("a")));
  ASSERT_TRUE(e().rename(P("a2"), P("b"), {}).ok());  // replaces
  EXPECT_EQ(read_host_file(host("b")), "A");
  EXPECT_EQ(e().rename(P("b"), P("c"), RenameFlags{true, false}).code(), EEXIST);
  ASSERT_TRUE(e().rename(P("b"), P("c"), RenameFlags{false, true}).ok());  // exchange
  EXPECT_EQ(read_host_file(host("b")), "C");
  EXPECT_EQ(read_host_file(host("c")), "A");
  EXPECT_EQ(e().rename(P("b"), P("none"), RenameFlags{false, true}).code(), ENOENT);
  EXPECT_EQ(e().rename(P("b"), P("c"), RenameFlags{true, true}).code(), EINVAL);
  EXPECT_EQ(e().rename(P("missing"), P("x"), {}).code(), ENOENT);
  EXPECT_EQ(e().rename(P("dir"), P("dir/sub/inside"), {}).code(), EINVAL);
  EXPECT_EQ(e().rename(P("empty"), P("full"), {}).code(), ENOTEMPTY);
  EXPECT_EQ(e().rename(P("b"), P("empty"), {}).code(), EISDIR);
  EXPECT_EQ(e().rename(P("empty"), P("b"), {}).code(), ENOTDIR);
  EXPECT_EQ(e().rename(RelPath{}, P("x"), {}).code(), EBUSY);
  EXPECT_EQ(e().rename(P("b"), RelPath{}, {}).code(), EBUSY);

  fs::create_symlink("c", host("sl"));
  ASSERT_TRUE(e().rename(P("sl"), P("dir/sl"), {}).ok());  // the symlink itself moves
  EXPECT_TRUE(fs::is_symlink(host("dir/sl")));
  EXPECT_EQ(read_host_file(host("c")), "A");
}

// ---- symlink / readlink / link ----

TEST_P(MountEngineTest, SymlinkAndReadlink) {
  auto a = e().symlink(P("s"), "some/target", kUser);
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_TRUE(S_ISLNK(a->mode));
  EXPECT_EQ(a->size, 11u);
  EXPECT_EQ(a->uid, kUser.uid);
  EXPECT_EQ(a->gid, kUser.gid);
  EXPECT_EQ(fs::read_symlink(host("s")), "some/target");
  auto target = e().readlink(P("s"));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "some/target");
  ASSERT_TRUE(e().symlink(P("abs"), "/etc/passwd", {}).ok());  // stored verbatim
  EXPECT_EQ(*e().readlink(P("abs")), "/etc/passwd");
  std::string longest(1000, 'x');  // a small ext4 has 1 KiB blocks, which caps targets
  ASSERT_TRUE(e().symlink(P("long"), longest, {}).ok());
  EXPECT_EQ(*e().readlink(P("long")), longest);

  write_file(host("f"), "");
  EXPECT_EQ(e().readlink(P("f")).code(), EINVAL);
  EXPECT_EQ(e().readlink(RelPath{}).code(), EINVAL);
  EXPECT_EQ(e().readlink(P("missing")).code(), ENOENT);
  EXPECT_EQ(e().symlink(P("s"), "x", {}).code(), EEXIST);
  EXPECT_EQ(e().symlink(P("empty"), "", {}).code(), ENOENT);
  EXPECT_EQ(e().symlink(P("nul"), std::string("a\0b", 3), {}).code(), EINVAL);
  EXPECT_EQ(e().symlink(P("toolong"), std::string(4096, 'x'), {}).code(), ENAMETOOLONG);
  EXPECT_EQ(e().symlink(P("missing/s"), "x", {}).code(), ENOENT);
}

TEST_P(MountEngineTest, LinkMakesHardLinks) {
  write_file(host("f"), "data");
  fs::create_directories(host("d"));
  fs::create_symlink("f", host("sl"));
  auto a = e().link(P("f"), P("d/g"));
  ASSERT_TRUE(a.ok()) << why(a);
  EXPECT_EQ(a->nlink, 2u);
  EXPECT_EQ(a->ino, host_lstat(host("f")).st_ino);
  auto l = e().link(P("sl"), P("sl2"));  // a symlink is linked as itself
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(S_ISLNK(l->mode));
  EXPECT_EQ(e().link(P("f"), P("d/g")).code(), EEXIST);
  EXPECT_EQ(e().link(P("missing"), P("x")).code(), ENOENT);
  EXPECT_EQ(e().link(P("d"), P("d2")).code(), EPERM);
  EXPECT_EQ(e().link(RelPath{}, P("r")).code(), EPERM);
  EXPECT_EQ(e().link(P("f"), RelPath{}).code(), EEXIST);
}

// ---- statfs / sync / xattrs ----

TEST_P(MountEngineTest, StatfsReportsTheFilesystemItself) {
  struct statfs want {};
  ASSERT_EQ(::statfs(root_.c_str(), &want), 0);
  auto s = e().statfs();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->block_size, static_cast<uint32_t>(want.f_bsize));
  EXPECT_EQ(s->fragment_size, static_cast<uint32_t>(want.f_frsize));
  EXPECT_EQ(s->blocks, want.f_blocks);
  EXPECT_EQ(s->files, want.f_files);
  EXPECT_EQ(s->name_max, 255u);
  EXPECT_GT(s->blocks_free, 0u);
  EXPECT_LE(s->blocks_available, s->blocks);
}

TEST_P(MountEngineTest, SyncSucceeds) {
  write_all(e(), "f", "synced");
  EXPECT_TRUE(e().sync().ok());
}

TEST_P(MountEngineTest, XattrsRoundTrip) {
  write_file(host("f"), "");
  fs::create_directories(host("d"));
  const std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(e().setxattr(P("f"), "user.one", bytes(binary), {}).ok());
  ASSERT_TRUE(e().setxattr(P("d"), "user.two", bytes("2"), {}).ok());
  EXPECT_EQ(text(*e().getxattr(P("f"), "user.one")), binary);
  char host_value[16];
  EXPECT_EQ(::getxattr(host("f").c_str(), "user.one", host_value, sizeof host_value), 4);
  EXPECT_EQ(text(*e().getxattr(P("d"), "user.two")), "2");
  ASSERT_TRUE(e().setxattr(P("f"), "user.empty", {}, {}).ok());
  EXPECT_TRUE(e().getxattr(P("f"), "user.empty")->empty());
  auto names = e().listxattr(P("f"));
  ASSERT_TRUE(names.ok());
  std::set<std::string> user;
  for (const auto& n : *names) {
    if (n.rfind("user.", 0) == 0) user.insert(n);
  }
  EXPECT_EQ(user, (std::set<std::string>{"user.one", "user.empty"}));

  EXPECT_EQ(e().setxattr(P("f"), "user.one", bytes("x"), {true, false}).code(), EEXIST);
  EXPECT_EQ(e().setxattr(P("f"), "user.new", bytes("x"), {false, true}).code(), ENODATA);
  EXPECT_EQ(e().setxattr(P("f"), "user.x", bytes("x"), {true, true}).code(), EINVAL);
  ASSERT_TRUE(e().setxattr(P("f"), "user.one", bytes("replaced"), {false, true}).ok());
  EXPECT_EQ(text(*e().getxattr(P("f"), "user.one")), "replaced");
  ASSERT_TRUE(e().removexattr(P("f"), "user.one").ok());
  EXPECT_EQ(e().getxattr(P("f"), "user.one").code(), ENODATA);
  EXPECT_EQ(e().removexattr(P("f"), "user.one").code(), ENODATA);
  EXPECT_EQ(e().getxattr(P("missing"), "user.one").code(), ENOENT);
  EXPECT_EQ(e().getxattr(P("f"), "").code(), ERANGE);
  EXPECT_EQ(e().getxattr(P("f"), "user." + std::string(300, 'n')).code(), ERANGE);
  EXPECT_EQ(e().setxattr(P("f"), "user.big", std::vector<uint8_t>(65537), {}).code(), E2BIG);
  EXPECT_EQ(e().setxattr(P("f"), "bogus.ns", bytes("x"), {}).code(), EOPNOTSUPP);
}

TEST_P(MountEngineTest, XattrsOfSymlinksAndSpecialFilesAreNotServed) {
  write_file(host("f"), "");
  fs::create_symlink("f", host("l"));
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0644), 0);
  ASSERT_EQ(::mknod(host("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  for (const char* path : {"l", "fifo", "null"}) {
    EXPECT_EQ(e().getxattr(P(path), "user.x").code(), EOPNOTSUPP) << path;
    EXPECT_EQ(e().listxattr(P(path)).code(), EOPNOTSUPP) << path;
    EXPECT_EQ(e().setxattr(P(path), "user.x", bytes("v"), {}).code(), EOPNOTSUPP) << path;
    EXPECT_EQ(e().removexattr(P(path), "user.x").code(), EOPNOTSUPP) << path;
  }
  // Never reached through the symlink either.
  char v[4];
  EXPECT_LT(::getxattr(host("f").c_str(), "user.x", v, sizeof v), 0);
}

// ---- confinement ----

// The export's own /etc/passwd, and symlinks that would leave the export if the kernel resolved
// them from the real root or let ".." climb above the export.
void populate_escapes(const fs::path& root) {
  write_file(root / "etc/passwd", "export-passwd\n");
  fs::create_symlink("/", root / "root");
  fs::create_symlink("../../../..", root / "up");
  fs::create_symlink("/etc/passwd", root / "pw");
  fs::create_symlink("/etc/shadow", root / "shadow");
  fs::create_symlink("/../../secret", root / "esc");
  fs::create_symlink(root.parent_path().string(), root / "hostdir");  // a host path, verbatim
}

TEST_P(MountEngineTest, SymlinksResolveInsideTheExport) {
  populate_escapes(root_);
  EXPECT_EQ(read_all(e(), "pw"), "export-passwd\n");
  EXPECT_EQ(read_all(e(), "root/etc/passwd"), "export-passwd\n");
  EXPECT_EQ(read_all(e(), "up/etc/passwd"), "export-passwd\n");
  EXPECT_EQ(read_all(e(), "up/up/root/up/etc/passwd"), "export-passwd\n");
  EXPECT_EQ(open_errno("shadow", ro_flags()), ENOENT);  // the host has one; the export not
  EXPECT_EQ(open_errno("esc", ro_flags()), ENOENT);
  EXPECT_EQ(open_errno("up/secret", ro_flags()), ENOENT);
  EXPECT_EQ(open_errno("hostdir/secret", ro_flags()), ENOENT);
  EXPECT_EQ(e().getattr(P("up/secret"), true).code(), ENOENT);
  EXPECT_EQ(e().getattr(P("esc"), true).code(), ENOENT);
  EXPECT_EQ(e().readlink(P("up/secret")).code(), ENOENT);
  EXPECT_EQ(e().getxattr(P("up/secret"), "user.x").code(), ENOENT);
  EXPECT_EQ(attr_of(e(), "up", true).ino, attr_of(e(), "/").ino);
  EXPECT_EQ(attr_of(e(), "root", true).ino, attr_of(e(), "/").ino);
  auto names = list_dir(e(), "up/etc");
  EXPECT_EQ(names, std::vector<std::string>{"passwd"});
}

TEST_P(MountEngineTest, MutationsThroughSymlinksStayInside) {
  populate_escapes(root_);
  write_file(host("f"), "F");
  write_file(host("g"), "G");
  const std::string secret = read_host_file(outside() / "secret");

  auto created = e().open(P("up/created"), create_flags(true), 0644, {});
  ASSERT_TRUE(created.ok()) << why(created);
  EXPECT_TRUE(fs::exists(host("created")));
  EXPECT_FALSE(fs::exists(outside() / "created"));
  ASSERT_TRUE(e().mkdir(P("root/newdir"), 0755, {}).ok());
  EXPECT_TRUE(fs::is_directory(host("newdir")));
  ASSERT_TRUE(e().rename(P("f"), P("up/moved"), {}).ok());
  EXPECT_EQ(read_host_file(host("moved")), "F");
  EXPECT_FALSE(fs::exists(outside() / "moved"));
  ASSERT_TRUE(e().link(P("up/g"), P("root/linked")).ok());
  EXPECT_EQ(host_lstat(host("linked")).st_ino, host_lstat(host("g")).st_ino);
  ASSERT_TRUE(e().symlink(P("up/sl"), "/anything", {}).ok());
  EXPECT_TRUE(fs::is_symlink(host("sl")));

  // Nothing reaches the file next to the export.
  SetAttr chown;
  chown.uid = 99;
  EXPECT_EQ(e().unlink(P("up/secret")).code(), ENOENT);
  EXPECT_EQ(e().setattr(P("up/secret"), chown).code(), ENOENT);
  EXPECT_EQ(e().setattr(P("esc"), chown).code(), 0);  // the symlink itself, inside
  EXPECT_EQ(e().rename(P("up/secret"), P("stolen"), {}).code(), ENOENT);
  EXPECT_EQ(e().link(P("esc/x"), P("stolen")).code(), ENOENT);
  EXPECT_EQ(e().setxattr(P("up/secret"), "user.x", bytes("v"), {}).code(), ENOENT);
  EXPECT_EQ(read_host_file(outside() / "secret"), secret);
  EXPECT_EQ(host_lstat(outside() / "secret").st_uid, 0u);

  // O_CREAT through a dangling absolute symlink creates inside the export.
  fs::create_symlink("/made-by-create", host("newabs"));
  auto made = e().open(P("newabs"), create_flags(false), 0644, {});
  ASSERT_TRUE(made.ok()) << why(made);
  EXPECT_TRUE(fs::exists(host("made-by-create")));
  EXPECT_FALSE(fs::exists("/made-by-create"));
}

// Runs `umount -l` on a path when it goes out of scope.
struct UnmountGuard {
  fs::path path;
  ~UnmountGuard() { run("umount -l " + quote(path)); }
};

TEST_P(MountEngineTest, MagicLinksAreRefused) {
  fs::create_directories(host("proc"));
  ASSERT_EQ(run("mount -t proc proc " + quote(host("proc"))).status, 0);
  UnmountGuard guard{host("proc")};
  fs::create_symlink("/proc/self/root", host("magic"));

  for (const char* path : {"proc/self/root/etc/passwd", "proc/self/cwd", "proc/self/exe",
                           "proc/self/fd/0", "magic/etc/passwd"}) {
    EXPECT_EQ(open_errno(path, ro_flags()), ELOOP) << path;
    EXPECT_EQ(e().getattr(P(path), true).code(), ELOOP) << path;
  }
  EXPECT_EQ(e().readdir(P("proc/self/root"), 0, 10, false).code(), ENOTDIR);
  EXPECT_EQ(e().readdir(P("magic/etc"), 0, 10, false).code(), ELOOP);
  EXPECT_EQ(e().unlink(P("proc/self/root/secret")).code(), ELOOP);
  EXPECT_EQ(e().mkdir(P("proc/self/cwd/x"), 0755, {}).code(), ELOOP);
  // Ordinary proc files (no magic link on the way) still read.
  EXPECT_FALSE(read_all(e(), "proc/self/status").empty());
}

// ---- parallelism ----

TEST_P(MountEngineTest, ParallelReadsAndWritesKeepEveryFileIntact) {
  constexpr int kThreads = 8;
  constexpr std::size_t kSize = 1024 * 1024 + 333;
  constexpr std::size_t kChunk = 64 * 1024;
  auto shared = open_ok("shared", create_flags());
  ASSERT_TRUE(shared);
  std::vector<std::string> contents;
  for (int i = 0; i < kThreads; ++i) contents.push_back(random_bytes(kSize, 100 + i));
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([this, i, &contents, &failures, &shared] {
      const std::string& data = contents[i];
      const std::string name = "p" + std::to_string(i);
      auto f = e().open(P(name), create_flags(true), 0644, {});
      if (!f.ok()) return void(++failures[i]);
      for (std::size_t off = 0; off < data.size(); off += kChunk) {
        std::string piece = data.substr(off, kChunk);
        if (!write_at(**f, off, piece)) ++failures[i];
        // Each thread also writes its own slice of one shared file through one OpenFile.
        if (!write_at(*shared, i * kSize + off, piece)) ++failures[i];
        if (read_at(**f, off, piece.size()) != piece) ++failures[i];
      }
      if (read_all(e(), name, 100 * 1000) != data) ++failures[i];
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(failures[i], 0) << "thread " << i;
  std::string all = read_host_file(host("shared"));
  ASSERT_EQ(all.size(), kThreads * kSize);
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(read_host_file(host("p" + std::to_string(i))), contents[i]) << i;
    EXPECT_TRUE(all.compare(i * kSize, kSize, contents[i]) == 0) << "shared slice " << i;
  }
}

// ---- read-only exports ----

TEST_P(MountEngineTest, ReadOnlyExportRefusesEveryWrite) {
  write_file(host("f"), "data");
  fs::create_directories(host("d"));
  auto opened = open_mount_engine(root_.string(), true);
  ASSERT_TRUE(opened.ok()) << why(opened);
  FsEngine& ro = **opened;
  EXPECT_TRUE(ro.read_only());
  EXPECT_EQ(read_all(ro, "f"), "data");
  EXPECT_TRUE(ro.getattr(P("f"), false).ok());
  EXPECT_TRUE(ro.readdir(P("d"), 0, 10, false).ok());

  SetAttr mode;
  mode.mode = 0600;
  OpenFlags append = rw_flags();
  append.append = true;
  OpenFlags trunc = ro_flags();
  trunc.truncate = true;
  EXPECT_EQ(ro.open(P("f"), rw_flags(), 0, {}).code(), EROFS);
  EXPECT_EQ(ro.open(P("f"), append, 0, {}).code(), EROFS);
  EXPECT_EQ(ro.open(P("f"), trunc, 0, {}).code(), EROFS);
  EXPECT_EQ(ro.open(P("new"), create_flags(), 0644, {}).code(), EROFS);
  EXPECT_EQ(ro.setattr(P("f"), mode).code(), EROFS);
  EXPECT_EQ(ro.mkdir(P("x"), 0755, {}).code(), EROFS);
  EXPECT_EQ(ro.unlink(P("f")).code(), EROFS);
  EXPECT_EQ(ro.rmdir(P("d")).code(), EROFS);
  EXPECT_EQ(ro.rename(P("f"), P("g"), {}).code(), EROFS);
  EXPECT_EQ(ro.symlink(P("s"), "f", {}).code(), EROFS);
  EXPECT_EQ(ro.link(P("f"), P("h")).code(), EROFS);
  EXPECT_EQ(ro.setxattr(P("f"), "user.x", bytes("v"), {}).code(), EROFS);
  EXPECT_EQ(ro.removexattr(P("f"), "user.x").code(), EROFS);
  auto file = ro.open(P("f"), ro_flags(), 0, {});
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->setattr(mode).code(), EROFS);
  EXPECT_EQ(read_host_file(host("f")), "data");
  EXPECT_EQ(host_lstat(host("f")).st_mode & 07777, 0644u);
  EXPECT_FALSE(fs::exists(host("new")));
}

// ---- the engine's own mounts ----

class OwnMountTest : public ::testing::TestWithParam<FsKind> {};
INSTANTIATE_TEST_SUITE_P(Fs, OwnMountTest, ::testing::Values(FsKind::ext4, FsKind::btrfs),
                         kind_param_name);

TEST_P(OwnMountTest, MountsAnImageAndUnmountsItWhenDestroyed) {
  TempDir tmp;
  const fs::path img = tmp.path() / "img";
  ImageGuard guard{img};
  make_fs(img, GetParam());
  {
    LoopMount m(img, tmp.path() / "prep");
    ASSERT_TRUE(m.ok()) << m.error();
    write_file(m.dir() / "hello", "from the image\n");
  }
  std::string target;
  {
    auto opened = open_mount_engine(img.string(), false);
    ASSERT_TRUE(opened.ok()) << why(opened);
    EXPECT_EQ(read_all(**opened, "hello"), "from the image\n");
    write_all(**opened, "written", "through the engine");
    auto devices = loop_devices_of(img);
    ASSERT_EQ(devices.size(), 1u);
    auto targets = mount_targets_of(devices[0]);
    ASSERT_EQ(targets.size(), 1u);
    target = targets[0];
    EXPECT_EQ(target.rfind("/run/redox-bridge/mnt/", 0), 0u) << target;
    auto options = run("findmnt -rn -o OPTIONS " + quote(targets[0])).output;
    EXPECT_NE(options.find("nodev"), std::string::npos) << options;
    EXPECT_NE(options.find("nosuid"), std::string::npos) << options;
  }
  EXPECT_TRUE(loop_devices_of(img).empty());
  EXPECT_FALSE(fs::exists(target)) << target;  // the private mount point is gone too
  LoopMount again(img, tmp.path() / "check");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(read_host_file(again.dir() / "written"), "through the engine");
}

TEST_P(OwnMountTest, MountsReadOnlyWhenAsked) {
  TempDir tmp;
  const fs::path img = tmp.path() / "img";
  ImageGuard guard{img};
  make_fs(img, GetParam());
  auto opened = open_mount_engine(img.string(), true);
  ASSERT_TRUE(opened.ok()) << why(opened);
  EXPECT_TRUE((*opened)->read_only());
  EXPECT_EQ((*opened)->open(P("new"), create_flags(), 0644, {}).code(), EROFS);
  auto devices = loop_devices_of(img);
  ASSERT_EQ(devices.size(), 1u);
  auto targets = mount_targets_of(devices[0]);
  ASSERT_EQ(targets.size(), 1u);
  auto options = run("findmnt -rn -o OPTIONS " + quote(targets[0])).output;
  EXPECT_EQ(options.rfind("ro", 0), 0u) << options;
}

TEST_P(OwnMountTest, MountsABlockDevice) {
  TempDir tmp;
  const fs::path img = tmp.path() / "img";
  ImageGuard guard{img};
  make_fs(img, GetParam());
  {
    LoopMount m(img, tmp.path() / "prep");
    ASSERT_TRUE(m.ok()) << m.error();
    write_file(m.dir() / "hello", "on a device\n");
  }
  auto attached = run("losetup -f --show " + quote(img));
  ASSERT_EQ(attached.status, 0) << attached.output;
  const std::string device = attached.output.substr(0, attached.output.find('\n'));
  {
    auto opened = open_mount_engine(device, false);
    ASSERT_TRUE(opened.ok()) << why(opened);
    EXPECT_EQ(read_all(**opened, "hello"), "on a device\n");
    EXPECT_EQ(mount_targets_of(device).size(), 1u);
  }
  EXPECT_TRUE(mount_targets_of(device).empty());
}

// No openat2, or one that refuses the resolve flags: no confinement, so no engine.
TEST(MountEngineSourceTest, FailsClosedWithoutOpenat2) {
  TempDir tmp;
  for (int refusal : {ENOSYS, EINVAL}) {
    auto old_kernel = [&tmp, refusal] {
      fail_syscall_with(SYS_openat2, refusal);
      auto engine = open_mount_engine(tmp.path().string(), false);
      if (engine.ok()) std::_Exit(1);
      std::fprintf(stderr, "%s\n", engine.error().context.c_str());
      std::_Exit(engine.code() == refusal ? 0 : 2);
    };
    EXPECT_EXIT(old_kernel(), ::testing::ExitedWithCode(0),
                "lacks openat2 \\(5\\.6\\+\\); refusing to serve without confinement")
        << refusal;
  }
}

TEST(MountEngineSourceTest, BadSourcesFailWithTheirNames) {
  TempDir tmp;
  auto missing = open_mount_engine((tmp.path() / "missing").string(), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), ENOENT);
  EXPECT_NE(missing.error().context.find("missing"), std::string::npos) << missing.error().context;

  const fs::path garbage = tmp.path() / "garbage.img";
  ImageGuard guard{garbage};
  write_file(garbage, std::string(1024 * 1024, '\0'));
  auto bad = open_mount_engine(garbage.string(), false);
  ASSERT_FALSE(bad.ok());
  const std::string& why_bad = bad.error().context;
  const std::string prefix = "cannot mount " + garbage.string() + " on ";
  auto at = why_bad.find(prefix);
  ASSERT_NE(at, std::string::npos) << why_bad;
  const std::string target = why_bad.substr(
      at + prefix.size(), why_bad.find(' ', at + prefix.size()) - at - prefix.size());
  EXPECT_EQ(target.rfind("/run/redox-bridge/mnt/", 0), 0u) << why_bad;
  EXPECT_FALSE(fs::exists(target)) << target;  // the mount point made for it is gone
  EXPECT_TRUE(loop_devices_of(garbage).empty());

  ASSERT_EQ(::mkfifo((tmp.path() / "fifo").c_str(), 0644), 0);
  auto fifo = open_mount_engine((tmp.path() / "fifo").string(), false);
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.code(), EINVAL);
  EXPECT_NE(fifo.error().context.find("neither"), std::string::npos) << fifo.error().context;
}

}  // namespace
}  // namespace bridge::guest
