// The ext2fs engine against real images built with mke2fs -d: opening, reading, path walking and
// confinement, readdir, read-only modes. Write workloads live in ext2fs_engine_write_test.cpp.
#include "bridge-guest/engines/ext2fs/ext2fs_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "ext2fs_test_support.h"

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;
using namespace testing;

// A source tree with the shapes the engine must handle.
void populate(const fs::path& src) {
  write_file(src / "hello.txt", "hello world\n");
  write_file(src / "dir/sub/deep.txt", "deep\n");
  write_file(src / "dir/file2", std::string(5000, 'z'));
  write_file(src / "etc/marker", "image-etc\n");
  write_file(src / "big.bin", random_bytes(5 * 1024 * 1024 + 123, 7));
  fs::create_symlink("/../../..", src / "esc");
  fs::create_symlink("../../../etc", src / "x");
  fs::create_symlink("/etc/marker", src / "abs");
  fs::create_symlink("nowhere", src / "dangling");
  fs::create_symlink("loop2", src / "loop1");
  fs::create_symlink("loop1", src / "loop2");
  fs::create_symlink(std::string(200, 'L'), src / "slowlink");
  fs::create_symlink("dir/", src / "dirslash");
  fs::create_symlink("hello.txt/", src / "fileslash");
  // l0 -> l1 -> ... -> l40 -> hello.txt: resolving l0 takes 41 hops, l1 takes 40.
  for (int i = 0; i < 41; ++i) {
    std::string next = i == 40 ? "hello.txt" : "l" + std::to_string(i + 1);
    fs::create_symlink(next, src / ("l" + std::to_string(i)));
  }
  ASSERT_EQ(::mkfifo((src / "fifo").c_str(), 0644), 0);
  fs::create_directories(src / "emptydir");
  fs::create_directories(src / "many");
  for (int i = 0; i < 3000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "entry-%04d-with-a-longer-name", i);
    write_file(src / "many" / name, "");
  }
  // A sparse file: data at 0, a hole, data at 6 MiB + 5, a hole to 10 MiB.
  {
    int fd = ::open((src / "sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(fd, "middle", 6, 6 * 1024 * 1024 + 5), 6);
    ASSERT_EQ(::ftruncate(fd, 10 * 1024 * 1024), 0);
    ::close(fd);
  }
}

// The source tree and its image are built once for the suite (3000 files take a while); every
// test works on its own copy of the image.
class Ext2fsReadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = std::make_unique<TempDir>();
    fs::create_directories(shared_->path() / "src");
    populate(shared_->path() / "src");
    make_image(shared_->path() / "img", shared_->path() / "src", "ext4", "64M");
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    src_ = shared_->path() / "src";
    img_ = tmp_.path() / "img";
    ASSERT_TRUE(fs::exists(shared_->path() / "img")) << "suite setup failed";
    fs::copy_file(shared_->path() / "img", img_);
  }

  std::unique_ptr<FsEngine> open(bool read_only = false) {
    auto e = open_ext2fs_engine(img_.string(), read_only);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().context);
    return e.ok() ? std::move(e).value() : nullptr;
  }

  static std::unique_ptr<TempDir> shared_;
  TempDir tmp_;
  fs::path src_, img_;
};

std::unique_ptr<TempDir> Ext2fsReadTest::shared_;

TEST_F(Ext2fsReadTest, ReportsWhatItIs) {
  auto e = open();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->engine_name(), "ext2fs");
  EXPECT_FALSE(e->parallel());
  EXPECT_FALSE(e->read_only());
  EXPECT_EQ(e->note(), "");
}

TEST_F(Ext2fsReadTest, GetattrMatchesTheSourceTree) {
  auto e = open();
  ASSERT_TRUE(e);
  auto root = e->getattr(RelPath{}, false);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->ino, 2u);
  EXPECT_TRUE(S_ISDIR(root->mode));

  auto hello = e->getattr(P("hello.txt"), false);
  ASSERT_TRUE(hello.ok()) << hello.error().context;
  struct stat st {};
  ASSERT_EQ(::stat((src_ / "hello.txt").c_str(), &st), 0);
  EXPECT_EQ(hello->size, 12u);
  EXPECT_EQ(hello->mode, st.st_mode);
  EXPECT_EQ(hello->uid, st.st_uid);
  EXPECT_EQ(hello->nlink, 1u);
  EXPECT_EQ(hello->mtime.sec, st.st_mtim.tv_sec);  // mke2fs -d stores no nanoseconds
  EXPECT_GT(hello->blocks, 0u);

  auto dir = e->getattr(P("dir"), false);
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(S_ISDIR(dir->mode));
  EXPECT_EQ(dir->nlink, 3u);  // ".", its entry, and sub's ".."

  auto link = e->getattr(P("dangling"), false);
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(S_ISLNK(link->mode));
  EXPECT_EQ(link->size, 7u);
  EXPECT_EQ(e->getattr(P("dangling"), true).code(), ENOENT);
  EXPECT_EQ(e->getattr(P("missing"), false).code(), ENOENT);
  EXPECT_EQ(e->getattr(P("missing/x"), false).code(), ENOENT);
  EXPECT_EQ(e->getattr(P("hello.txt/x"), false).code(), ENOTDIR);
}

TEST_F(Ext2fsReadTest, ReadsSmallBigAndSparseFiles) {
  auto e = open();
  ASSERT_TRUE(e);
  EXPECT_EQ(read_all(*e, "hello.txt"), "hello world\n");
  EXPECT_EQ(read_all(*e, "dir/sub/deep.txt"), "deep\n");
  EXPECT_EQ(read_all(*e, "dir/file2", 100), std::string(5000, 'z'));
  std::string big = read_host_file(src_ / "big.bin");
  EXPECT_TRUE(read_all(*e, "big.bin") == big);         // mapped path (large reads)
  EXPECT_TRUE(read_all(*e, "big.bin", 3000) == big);   // buffered path (small reads)
  EXPECT_TRUE(read_all(*e, "big.bin", 77777) == big);  // unaligned large reads
  std::string sparse = read_host_file(src_ / "sparse");
  EXPECT_TRUE(read_all(*e, "sparse") == sparse);
  EXPECT_TRUE(read_all(*e, "sparse", 4096 * 5 + 1) == sparse);

  auto f = e->open(P("hello.txt"), ro_flags(), 0, {});
  ASSERT_TRUE(f.ok());
  std::vector<std::byte> buf(100);
  auto n = (*f)->read(6, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ((*f)->read(12, buf).value(), 0u);
  EXPECT_EQ((*f)->read(1000, buf).value(), 0u);
  auto attr = (*f)->getattr();
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->size, 12u);
}

TEST_F(Ext2fsReadTest, SymlinksResolveInsideTheImage) {
  auto e = open();
  ASSERT_TRUE(e);
  // "/../../.." is the root of the image, not of the host.
  auto esc = e->getattr(P("esc"), true);
  ASSERT_TRUE(esc.ok()) << esc.error().context;
  EXPECT_EQ(esc->ino, 2u);
  EXPECT_EQ(read_all(*e, "esc/hello.txt"), "hello world\n");
  EXPECT_EQ(read_all(*e, "esc/esc/esc/etc/marker"), "image-etc\n");
  // "../../../etc" from the root is the image's /etc; the host's /etc/passwd is not there.
  EXPECT_EQ(read_all(*e, "x/marker"), "image-etc\n");
  EXPECT_EQ(e->getattr(P("x/passwd"), false).code(), ENOENT);
  EXPECT_EQ(e->open(P("x/passwd"), ro_flags(), 0, {}).code(), ENOENT);
  EXPECT_EQ(read_all(*e, "abs"), "image-etc\n");
  auto target = e->readlink(P("esc"));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "/../../..");
  auto slow = e->readlink(P("slowlink"));
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(*slow, std::string(200, 'L'));
  EXPECT_EQ(e->readlink(P("hello.txt")).code(), EINVAL);
  EXPECT_EQ(e->readlink(P("nope")).code(), ENOENT);
  // A trailing slash in a target demands a directory.
  EXPECT_TRUE(e->getattr(P("dirslash"), true).ok());
  EXPECT_EQ(e->getattr(P("fileslash"), true).code(), ENOTDIR);
}

TEST_F(Ext2fsReadTest, SymlinkHopsAreBounded) {
  auto e = open();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->getattr(P("loop1"), true).code(), ELOOP);
  EXPECT_EQ(e->getattr(P("loop1/x"), false).code(), ELOOP);
  EXPECT_TRUE(e->getattr(P("loop1"), false).ok());
  EXPECT_EQ(e->getattr(P("l0"), true).code(), ELOOP);  // 41 hops
  auto l1 = e->getattr(P("l1"), true);                 // 40 hops
  ASSERT_TRUE(l1.ok()) << l1.error().context;
  EXPECT_EQ(l1->size, 12u);
}

TEST_F(Ext2fsReadTest, OpenChecksItsFlags) {
  auto e = open();
  ASSERT_TRUE(e);
  OpenFlags dir_flag;
  dir_flag.directory = true;
  EXPECT_EQ(e->open(P("hello.txt"), dir_flag, 0, {}).code(), ENOTDIR);
  EXPECT_TRUE(e->open(P("dir"), dir_flag, 0, {}).ok());
  OpenFlags nofollow;
  nofollow.no_follow = true;
  EXPECT_EQ(e->open(P("abs"), nofollow, 0, {}).code(), ELOOP);
  EXPECT_TRUE(e->open(P("abs"), ro_flags(), 0, {}).ok());
  EXPECT_EQ(e->open(P("dir"), rw_flags(), 0, {}).code(), EISDIR);
  EXPECT_EQ(e->open(P("missing"), ro_flags(), 0, {}).code(), ENOENT);
  EXPECT_EQ(e->open(P("fifo"), ro_flags(), 0, {}).code(), ENXIO);
  EXPECT_EQ(e->open(P("hello.txt"), create_flags(true), 0644, {}).code(), EEXIST);
  EXPECT_EQ(e->open(P("dangling"), create_flags(true), 0644, {}).code(), EEXIST);

  auto d = e->open(P("dir"), ro_flags(), 0, {});
  ASSERT_TRUE(d.ok());
  std::vector<std::byte> buf(10);
  EXPECT_EQ((*d)->read(0, buf).code(), EISDIR);
  EXPECT_TRUE((*d)->getattr().ok());

  OpenFlags write_only = rw_flags();
  write_only.read = false;
  auto w = e->open(P("hello.txt"), write_only, 0, {});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->read(0, buf).code(), EBADF);
  auto r = e->open(P("hello.txt"), ro_flags(), 0, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->write(0, std::span<const std::byte>(buf)).code(), EBADF);
}

TEST_F(Ext2fsReadTest, ReaddirListsEntriesWithTypes) {
  auto e = open();
  ASSERT_TRUE(e);
  auto page = e->readdir(RelPath{}, 0, 1000, true);
  ASSERT_TRUE(page.ok()) << page.error().context;
  EXPECT_TRUE(page->end);
  std::set<std::string> names;
  for (const auto& entry : page->entries) {
    names.insert(entry.name);
    auto attr = e->getattr(P(entry.name), false);
    ASSERT_TRUE(attr.ok()) << entry.name;
    EXPECT_EQ(entry.ino, attr->ino) << entry.name;
    EXPECT_EQ(entry.attr.mode, attr->mode) << entry.name;
    EXPECT_EQ(entry.attr.size, attr->size) << entry.name;
    if (entry.name == "hello.txt") {
      EXPECT_EQ(entry.type, DT_REG);
    }
    if (entry.name == "dir") {
      EXPECT_EQ(entry.type, DT_DIR);
    }
    if (entry.name == "esc") {
      EXPECT_EQ(entry.type, DT_LNK);
    }
    if (entry.name == "fifo") {
      EXPECT_EQ(entry.type, DT_FIFO);
    }
  }
  EXPECT_FALSE(names.count("."));
  EXPECT_FALSE(names.count(".."));
  for (const char* n : {"hello.txt", "dir", "etc", "esc", "x", "many", "lost+found", "fifo"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(e->readdir(P("hello.txt"), 0, 10, false).code(), ENOTDIR);
  EXPECT_EQ(e->readdir(P("nope"), 0, 10, false).code(), ENOENT);
  EXPECT_EQ(e->readdir(RelPath{}, 0, 0, false).code(), EINVAL);
}

TEST_F(Ext2fsReadTest, ReaddirPagesThroughThreeThousandEntries) {
  auto e = open();
  ASSERT_TRUE(e);
  std::vector<std::string> names;
  uint64_t cookie = 0;
  int pages = 0;
  for (;;) {
    auto page = e->readdir(P("many"), cookie, 7, false);
    ASSERT_TRUE(page.ok()) << page.error().context;
    ASSERT_LE(page->entries.size(), 7u);
    for (auto& entry : page->entries) {
      EXPECT_EQ(entry.type, DT_REG);
      names.push_back(entry.name);
    }
    ++pages;
    if (page->end) break;
    ASSERT_EQ(page->entries.size(), 7u);
    ASSERT_NE(page->next_cookie, cookie);
    cookie = page->next_cookie;
  }
  EXPECT_EQ(names.size(), 3000u);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 3000u);
  EXPECT_TRUE(unique.count("entry-0000-with-a-longer-name"));
  EXPECT_TRUE(unique.count("entry-2999-with-a-longer-name"));
  EXPECT_GE(pages, 429);
}

TEST_F(Ext2fsReadTest, StatfsMatchesTheSuperblock) {
  auto e = open();
  ASSERT_TRUE(e);
  auto s = e->statfs();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::to_string(s->block_size), superblock_field(img_, "Block size"));
  EXPECT_EQ(std::to_string(s->blocks), superblock_field(img_, "Block count"));
  EXPECT_EQ(std::to_string(s->blocks_free), superblock_field(img_, "Free blocks"));
  uint64_t reserved = std::stoull(superblock_field(img_, "Reserved block count"));
  EXPECT_GT(reserved, 0u);
  EXPECT_EQ(s->blocks_available, s->blocks_free - reserved);
  EXPECT_EQ(std::to_string(s->files), superblock_field(img_, "Inode count"));
  EXPECT_EQ(std::to_string(s->files_free), superblock_field(img_, "Free inodes"));
  EXPECT_EQ(s->name_max, 255u);
}

TEST_F(Ext2fsReadTest, ReadOnlyWorkloadLeavesTheImageUntouched) {
  std::string before = sha256(img_);
  {
    auto e = open();
    ASSERT_TRUE(e);
    EXPECT_EQ(read_all(*e, "big.bin").size(), 5u * 1024 * 1024 + 123);
    EXPECT_EQ(list_dir(*e, "many").size(), 3000u);
    auto f = e->open(P("hello.txt"), rw_flags(), 0, {});  // opening for writing is no mutation
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE((*f)->fsync(false).ok());
    EXPECT_TRUE(e->sync().ok());
  }
  EXPECT_EQ(sha256(img_), before);
}

TEST_F(Ext2fsReadTest, ReadOnlyExportRefusesEveryMutation) {
  std::string before = sha256(img_);
  {
    auto e = open(true);
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->read_only());
    EXPECT_NE(e->note(), "");
    EXPECT_EQ(read_all(*e, "hello.txt"), "hello world\n");
    SetAttr chmod;
    chmod.mode = 0600;
    EXPECT_EQ(e->setattr(P("hello.txt"), chmod).code(), EROFS);
    EXPECT_EQ(e->open(P("hello.txt"), rw_flags(), 0, {}).code(), EROFS);
    EXPECT_EQ(e->open(P("new"), create_flags(), 0644, {}).code(), EROFS);
    OpenFlags trunc;
    trunc.truncate = true;
    EXPECT_EQ(e->open(P("hello.txt"), trunc, 0, {}).code(), EROFS);
    EXPECT_EQ(e->mkdir(P("d"), 0755, {}).code(), EROFS);
    EXPECT_EQ(e->unlink(P("hello.txt")).code(), EROFS);
    EXPECT_EQ(e->rmdir(P("emptydir")).code(), EROFS);
    EXPECT_EQ(e->rmdir(P("dir/sub")).code(), EROFS);  // as on a read-only mount: EROFS first
    EXPECT_EQ(e->rename(P("hello.txt"), P("h2"), {}).code(), EROFS);
    EXPECT_EQ(e->symlink(P("s"), "t", {}).code(), EROFS);
    EXPECT_EQ(e->link(P("hello.txt"), P("h3")).code(), EROFS);
    std::vector<uint8_t> v{1};
    EXPECT_EQ(e->setxattr(P("hello.txt"), "user.a", v, {}).code(), EROFS);
    EXPECT_EQ(e->removexattr(P("hello.txt"), "user.a").code(), EROFS);
    EXPECT_TRUE(e->sync().ok());
  }
  EXPECT_EQ(sha256(img_), before);
}

TEST_F(Ext2fsReadTest, JournalNeedingRecoveryMeansReadOnly) {
  auto r = run("debugfs -w -R 'feature needs_recovery' " + quote(img_.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_NE(superblock_field(img_, "Filesystem features").find("needs_recovery"), std::string::npos)
      << "debugfs did not set the flag";
  auto e = open(false);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->read_only());
  EXPECT_NE(e->note().find("journal needs recovery"), std::string::npos) << e->note();
  EXPECT_NE(e->note().find("e2fsck -p"), std::string::npos) << e->note();
  EXPECT_EQ(read_all(*e, "hello.txt"), "hello world\n");
  auto st = e->mkdir(P("d"), 0755, {});
  EXPECT_EQ(st.code(), EROFS);
  EXPECT_NE(st.error().context.find("journal needs recovery"), std::string::npos);
}

TEST_F(Ext2fsReadTest, UncleanFilesystemMeansReadOnly) {
  auto r = run("debugfs -w -R 'ssv state 0' " + quote(img_.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(superblock_field(img_, "Filesystem state"), "not clean");
  auto e = open(false);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->read_only());
  EXPECT_NE(e->note().find("not cleanly unmounted"), std::string::npos) << e->note();
  EXPECT_EQ(e->unlink(P("hello.txt")).code(), EROFS);
}

TEST(Ext2fsOpen, BadSourcesGiveClearErrors) {
  TempDir tmp;
  auto missing = open_ext2fs_engine((tmp.path() / "no-such.img").string(), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), ENOENT);
  EXPECT_NE(missing.error().context.find("no-such.img"), std::string::npos);
  EXPECT_NE(missing.error().context.find("check the path"), std::string::npos);

  auto garbage_path = tmp.path() / "garbage.img";
  write_file(garbage_path, random_bytes(1 << 20, 3));
  auto garbage = open_ext2fs_engine(garbage_path.string(), false);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.code(), EINVAL);
  EXPECT_NE(garbage.error().context.find("is not an ext2/3/4 filesystem"), std::string::npos)
      << garbage.error().context;
  EXPECT_NE(garbage.error().context.find("garbage.img"), std::string::npos);

  auto tiny_path = tmp.path() / "tiny.img";
  write_file(tiny_path, "x");
  auto tiny = open_ext2fs_engine(tiny_path.string(), true);
  ASSERT_FALSE(tiny.ok());
  EXPECT_EQ(tiny.code(), EINVAL) << tiny.error().context;

  auto dir = open_ext2fs_engine(tmp.path().string(), false);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.code(), EINVAL);
}

}  // namespace
}  // namespace bridge::guest
