// The btrfs engine on real btrfs filesystems (mkfs.btrfs + loop mounts): it refuses what is not
// btrfs, serves files like the mount engine (compressed and reflinked files included), and its
// subvolume operations work, fail with the right errno, and stay inside the export.
#include "bridge-guest/engines/btrfs/btrfs_engine.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "mount_test_support.h"

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;
using namespace testing;

constexpr uint64_t kTopLevel = 5;  // BTRFS_FS_TREE_OBJECTID

std::map<std::string, SubvolInfo> by_path(const std::vector<SubvolInfo>& list) {
  std::map<std::string, SubvolInfo> out;
  for (const auto& s : list) out.emplace(s.path, s);
  return out;
}

std::set<std::string> paths_of(const std::vector<SubvolInfo>& list) {
  std::set<std::string> out;
  for (const auto& s : list) out.insert(s.path);
  return out;
}

bool all_zero(const std::vector<uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

// Each test gets a fresh btrfs filesystem, exported whole unless the test says otherwise.
class BtrfsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = std::make_unique<ScratchFs>(FsKind::btrfs);
    ASSERT_TRUE(scratch_->ok()) << scratch_->error();
    export_dir(scratch_->dir());
  }
  void TearDown() override {
    engine_.reset();
    scratch_.reset();
  }

  void export_dir(const fs::path& dir, bool read_only = false) {
    engine_.reset();
    auto engine = open_btrfs_engine(dir.string(), read_only);
    ASSERT_TRUE(engine.ok()) << why(engine);
    engine_ = std::move(engine).value();
    ASSERT_NE(engine_->subvolumes(), nullptr);
  }

  FsEngine& e() { return *engine_; }
  SubvolumeOps& sv() { return *engine_->subvolumes(); }
  fs::path host(const std::string& rel) const { return scratch_->dir() / rel; }

  std::map<std::string, SubvolInfo> listed() {
    auto list = sv().list_subvolumes();
    EXPECT_TRUE(list.ok()) << why(list);
    return list.ok() ? by_path(*list) : std::map<std::string, SubvolInfo>{};
  }
  void create(const std::string& path) {
    auto st = sv().create_subvolume(P(path));
    ASSERT_TRUE(st.ok()) << path << ": " << why(st);
  }

  std::unique_ptr<ScratchFs> scratch_;
  std::unique_ptr<FsEngine> engine_;
};

TEST_F(BtrfsEngineTest, IsTheMountEngineWithSubvolumes) {
  EXPECT_EQ(e().engine_name(), "btrfs");
  EXPECT_TRUE(e().parallel());
  EXPECT_FALSE(e().read_only());
  // The file operations are the mount engine's (tested in mount_engine_test): a smoke test.
  ASSERT_TRUE(e().mkdir(P("dir"), 0755, {}).ok());
  write_all(e(), "dir/file", "contents");
  ASSERT_TRUE(e().rename(P("dir/file"), P("moved"), {}).ok());
  EXPECT_EQ(read_all(e(), "moved"), "contents");
  EXPECT_EQ(list_dir(e(), "/"), (std::vector<std::string>{"dir", "moved"}));
  ASSERT_TRUE(e().setxattr(P("moved"), "user.k", std::vector<uint8_t>{'v'}, {}).ok());
  EXPECT_EQ(*e().getxattr(P("moved"), "user.k"), std::vector<uint8_t>{'v'});
}

TEST(BtrfsEngineSourceTest, RefusesWhatIsNotBtrfs) {
  ScratchFs ext4(FsKind::ext4);
  ASSERT_TRUE(ext4.ok()) << ext4.error();
  auto dir = open_btrfs_engine(ext4.dir().string(), false);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.code(), EINVAL);
  EXPECT_NE(dir.error().context.find(ext4.dir().string() + " is not btrfs"), std::string::npos)
      << dir.error().context;

  // An image the engine mounted itself is unmounted again when it turns out not to be btrfs.
  TempDir tmp;
  const fs::path img = tmp.path() / "ext4.img";
  ImageGuard guard{img};
  make_fs(img, FsKind::ext4);
  auto image = open_btrfs_engine(img.string(), false);
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.error().context.find("is not btrfs"), std::string::npos);
  EXPECT_TRUE(loop_devices_of(img).empty());
}

TEST_F(BtrfsEngineTest, CreateListAndDeleteSubvolumes) {
  create("sv");
  create("sv/nested");
  ASSERT_TRUE(e().mkdir(P("dir"), 0755, {}).ok());
  create("dir/inner");
  EXPECT_EQ(attr_of(e(), "sv").ino, 256u);  // a subvolume's root directory

  auto subvols = listed();
  ASSERT_EQ(subvols.size(), 3u);
  const SubvolInfo& top = subvols.at("sv");
  const SubvolInfo& nested = subvols.at("sv/nested");
  EXPECT_GT(top.id, 255u);
  EXPECT_EQ(top.parent_id, kTopLevel);
  EXPECT_EQ(nested.parent_id, top.id);
  EXPECT_EQ(subvols.at("dir/inner").parent_id, kTopLevel);
  EXPECT_GT(top.generation, 0u);
  EXPECT_EQ(top.uuid.size(), 16u);
  EXPECT_FALSE(all_zero(top.uuid));
  EXPECT_TRUE(all_zero(top.parent_uuid));
  EXPECT_FALSE(top.read_only);

  write_file(host("file"), "");
  EXPECT_EQ(sv().create_subvolume(P("sv")).code(), EEXIST);
  EXPECT_EQ(sv().create_subvolume(RelPath{}).code(), EEXIST);
  EXPECT_EQ(sv().create_subvolume(P("missing/x")).code(), ENOENT);
  EXPECT_EQ(sv().create_subvolume(P("file/x")).code(), ENOTDIR);

  EXPECT_EQ(sv().delete_subvolume(P("sv")).code(), ENOTEMPTY);  // holds a subvolume
  EXPECT_EQ(sv().delete_subvolume(P("dir")).code(), EINVAL);    // a plain directory
  EXPECT_EQ(sv().delete_subvolume(P("missing")).code(), ENOENT);
  ASSERT_TRUE(sv().delete_subvolume(P("sv/nested")).ok());
  ASSERT_TRUE(sv().delete_subvolume(P("sv")).ok());
  EXPECT_FALSE(fs::exists(host("sv")));
  EXPECT_EQ(paths_of(*sv().list_subvolumes()), std::set<std::string>{"dir/inner"});
}

TEST_F(BtrfsEngineTest, ListIsRelativeToTheExportRoot) {
  create("outside");
  ASSERT_TRUE(e().mkdir(P("a"), 0755, {}).ok());
  ASSERT_TRUE(e().mkdir(P("a/exp"), 0755, {}).ok());
  create("a/exp/sv");
  create("a/exp/sv/deeper");
  create("a/sibling");

  export_dir(host("a/exp"));  // a plain directory inside the top-level subvolume
  EXPECT_EQ(paths_of(*sv().list_subvolumes()), (std::set<std::string>{"sv", "sv/deeper"}));
  export_dir(host("a/exp/sv"));  // a subvolume as the export root
  EXPECT_EQ(paths_of(*sv().list_subvolumes()), std::set<std::string>{"deeper"});
}

TEST_F(BtrfsEngineTest, SnapshotContentIsFrozen) {
  create("origin");
  write_all(e(), "origin/file", "old bytes");
  ASSERT_TRUE(sv().snapshot(P("origin"), P("snap"), false).ok());
  write_all(e(), "origin/file", "new bytes, longer");
  write_all(e(), "origin/added", "later");
  EXPECT_EQ(read_all(e(), "snap/file"), "old bytes");
  EXPECT_EQ(e().getattr(P("snap/added"), false).code(), ENOENT);
  EXPECT_EQ(read_all(e(), "origin/file"), "new bytes, longer");
  write_all(e(), "snap/file", "writable snapshot");  // not read-only: it can change too
  EXPECT_EQ(read_all(e(), "origin/file"), "new bytes, longer");

  auto subvols = listed();
  EXPECT_EQ(subvols.at("snap").parent_uuid, subvols.at("origin").uuid);
  EXPECT_FALSE(subvols.at("snap").read_only);

  ASSERT_TRUE(sv().snapshot(RelPath{}, P("whole"), true).ok());  // the export root is one too
  // Nested subvolumes are not part of a snapshot: an empty directory stands in for them.
  EXPECT_EQ(e().getattr(P("whole/origin/file"), false).code(), ENOENT);
  EXPECT_TRUE(S_ISDIR(attr_of(e(), "whole/origin").mode));

  ASSERT_TRUE(e().mkdir(P("plain"), 0755, {}).ok());
  fs::create_symlink("origin", host("link"));
  EXPECT_EQ(sv().snapshot(P("plain"), P("s1"), false).code(), EINVAL);
  EXPECT_EQ(sv().snapshot(P("missing"), P("s2"), false).code(), ENOENT);
  EXPECT_EQ(sv().snapshot(P("link"), P("s3"), false).code(), ENOTDIR);  // final name not followed
  EXPECT_EQ(sv().snapshot(P("origin"), P("snap"), false).code(), EEXIST);
  EXPECT_EQ(sv().snapshot(P("origin"), P("missing/s"), false).code(), ENOENT);
}

TEST_F(BtrfsEngineTest, ReadOnlySnapshotRefusesWrites) {
  create("origin");
  write_all(e(), "origin/file", "frozen");
  ASSERT_TRUE(sv().snapshot(P("origin"), P("ro"), true).ok());
  EXPECT_TRUE(*sv().subvolume_read_only(P("ro")));
  EXPECT_TRUE(listed().at("ro").read_only);
  EXPECT_EQ(read_all(e(), "ro/file"), "frozen");
  EXPECT_EQ(e().open(P("ro/file"), rw_flags(), 0, {}).code(), EROFS);
  EXPECT_EQ(e().open(P("ro/new"), create_flags(), 0644, {}).code(), EROFS);
  EXPECT_EQ(e().unlink(P("ro/file")).code(), EROFS);
  EXPECT_EQ(e().mkdir(P("ro/d"), 0755, {}).code(), EROFS);
  SetAttr mode;
  mode.mode = 0600;
  EXPECT_EQ(e().setattr(P("ro/file"), mode).code(), EROFS);
  EXPECT_EQ(e().setxattr(P("ro/file"), "user.x", {}, {}).code(), EROFS);
}

TEST_F(BtrfsEngineTest, SetAndGetReadOnly) {
  create("sv");
  write_all(e(), "sv/file", "x");
  EXPECT_FALSE(*sv().subvolume_read_only(P("sv")));
  ASSERT_TRUE(sv().set_subvolume_read_only(P("sv"), true).ok());
  EXPECT_TRUE(*sv().subvolume_read_only(P("sv")));
  EXPECT_EQ(e().open(P("sv/file"), rw_flags(), 0, {}).code(), EROFS);
  ASSERT_TRUE(sv().set_subvolume_read_only(P("sv"), false).ok());
  EXPECT_FALSE(*sv().subvolume_read_only(P("sv")));
  write_all(e(), "sv/file", "writable again");
  EXPECT_EQ(read_all(e(), "sv/file"), "writable again");

  ASSERT_TRUE(e().mkdir(P("plain"), 0755, {}).ok());
  EXPECT_EQ(sv().subvolume_read_only(P("plain")).code(), EINVAL);
  EXPECT_EQ(sv().set_subvolume_read_only(P("plain"), true).code(), EINVAL);
  EXPECT_EQ(sv().subvolume_read_only(P("missing")).code(), ENOENT);
  EXPECT_FALSE(*sv().subvolume_read_only(RelPath{}));
}

TEST_F(BtrfsEngineTest, GetAndSetTheDefaultSubvolume) {
  EXPECT_EQ(*sv().default_subvolume(), kTopLevel);
  create("sv");
  ASSERT_TRUE(sv().set_default_subvolume(P("sv")).ok());
  EXPECT_EQ(*sv().default_subvolume(), listed().at("sv").id);
  ASSERT_TRUE(sv().set_default_subvolume(RelPath{}).ok());
  EXPECT_EQ(*sv().default_subvolume(), kTopLevel);
  ASSERT_TRUE(e().mkdir(P("plain"), 0755, {}).ok());
  EXPECT_EQ(sv().set_default_subvolume(P("plain")).code(), EINVAL);
  EXPECT_EQ(sv().set_default_subvolume(P("missing")).code(), ENOENT);
}

TEST_F(BtrfsEngineTest, SubvolumePathsStayInsideTheExport) {
  create("sv");  // outside the export below: a target for escapes
  ASSERT_TRUE(e().mkdir(P("exp"), 0755, {}).ok());
  create("exp/sv");
  fs::create_symlink("../../..", host("exp/up"));
  fs::create_symlink("/", host("exp/root"));
  fs::create_symlink("/sv", host("exp/abs"));
  export_dir(host("exp"));

  create("up/via-up");
  create("root/via-root");
  EXPECT_TRUE(fs::exists(host("exp/via-up")));
  EXPECT_TRUE(fs::exists(host("exp/via-root")));
  EXPECT_FALSE(fs::exists(host("via-up")));
  ASSERT_TRUE(sv().snapshot(P("up/sv"), P("root/snap"), true).ok());
  EXPECT_TRUE(fs::exists(host("exp/snap")));
  ASSERT_TRUE(sv().set_subvolume_read_only(P("root/snap"), false).ok());
  EXPECT_EQ(sv().set_subvolume_read_only(P("abs"), true).code(), ENOTDIR);  // not followed
  EXPECT_FALSE(*sv().subvolume_read_only(P("up/sv")));
  ASSERT_TRUE(sv().delete_subvolume(P("up/sv")).ok());
  EXPECT_FALSE(fs::exists(host("exp/sv")));
  EXPECT_TRUE(fs::exists(host("sv")));  // the one outside is untouched
  EXPECT_EQ(paths_of(*sv().list_subvolumes()),
            (std::set<std::string>{"via-up", "via-root", "snap"}));
}

TEST_F(BtrfsEngineTest, ReadOnlyEngineRefusesSubvolumeChanges) {
  create("sv");
  export_dir(scratch_->dir(), true);
  EXPECT_TRUE(e().read_only());
  EXPECT_EQ(paths_of(*sv().list_subvolumes()), std::set<std::string>{"sv"});
  EXPECT_EQ(*sv().default_subvolume(), kTopLevel);
  EXPECT_FALSE(*sv().subvolume_read_only(P("sv")));
  EXPECT_EQ(sv().create_subvolume(P("new")).code(), EROFS);
  EXPECT_EQ(sv().snapshot(P("sv"), P("snap"), true).code(), EROFS);
  EXPECT_EQ(sv().delete_subvolume(P("sv")).code(), EROFS);
  EXPECT_EQ(sv().set_default_subvolume(P("sv")).code(), EROFS);
  EXPECT_EQ(sv().set_subvolume_read_only(P("sv"), true).code(), EROFS);
  EXPECT_EQ(listed().size(), 1u);
}

TEST(BtrfsCompressionTest, CompressedAndReflinkedFilesReadBackIdentical) {
  ScratchFs btrfs(FsKind::btrfs, "compress=zstd");
  ASSERT_TRUE(btrfs.ok()) << btrfs.error();
  std::string text;
  while (text.size() < 8 * 1024 * 1024)
    text += "the quick brown fox jumps over the lazy dog 0123\n";
  write_file(btrfs.dir() / "text", text);
  auto cp = run("cp --reflink=always " + quote(btrfs.dir() / "text") + " " +
                quote(btrfs.dir() / "clone") + " && sync");
  ASSERT_EQ(cp.status, 0) << cp.output;
  // The kernel really compressed it: its extents are "encoded".
  auto frag = run("filefrag -v " + quote(btrfs.dir() / "text"));
  EXPECT_NE(frag.output.find("encoded"), std::string::npos) << frag.output;

  auto engine = open_btrfs_engine(btrfs.dir().string(), false);
  ASSERT_TRUE(engine.ok()) << why(engine);
  EXPECT_EQ(read_all(**engine, "text", 1000 * 1000), text);
  EXPECT_EQ(read_all(**engine, "clone", 3 * 1000 * 1000), text);
  EXPECT_EQ(attr_of(**engine, "clone").size, text.size());
}

TEST(BtrfsImageTest, MountsABtrfsImageItselfWithSubvolumes) {
  TempDir tmp;
  const fs::path img = tmp.path() / "btrfs.img";
  ImageGuard guard{img};
  make_fs(img, FsKind::btrfs);
  {
    auto engine = open_btrfs_engine(img.string(), false);
    ASSERT_TRUE(engine.ok()) << why(engine);
    ASSERT_TRUE((*engine)->subvolumes()->create_subvolume(P("sv")).ok());
    write_all(**engine, "sv/file", "kept");
  }
  EXPECT_TRUE(loop_devices_of(img).empty());
  LoopMount check(img, tmp.path() / "check");
  ASSERT_TRUE(check.ok()) << check.error();
  EXPECT_EQ(read_host_file(check.dir() / "sv/file"), "kept");
}

}  // namespace
}  // namespace bridge::guest
