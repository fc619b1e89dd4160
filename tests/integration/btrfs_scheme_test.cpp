// btrfs subvolumes and snapshots through the real daemons: bridgectl subvol against a btrfs
// export served by bridge-guest's btrfs engine from a real mkfs.btrfs image.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/integration/local_bridge.h"

namespace bridge::test {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

class BtrfsSchemeTest : public ::testing::Test {
 protected:
  BtrfsSchemeTest() : bridge_(ExportKind{"btrfs", "btrfs", "btrfs"}) {}

  void SetUp() override {
    fs::create_directories(bridge_.dir() / "tree/home");
    write_file(bridge_.dir() / "tree/home/file", "btrfs\n");
    bridge_.make_image(bridge_.dir() / "tree", 256);
    bridge_.start_host();
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for("btrfs/home/file")) << read_file(bridge_.guest_log());
  }

  CommandResult ctl(const std::string& args) { return bridge_.bridgectl(args); }

  LocalBridge bridge_;
};

TEST_F(BtrfsSchemeTest, SnapshotIsFrozenWhenTheOriginChanges) {
  auto made = ctl("subvol create btrfs:/vol");
  ASSERT_EQ(made.status, 0) << made.output;
  ASSERT_TRUE(fs::is_directory(bridge_.at("btrfs/vol")));  // a subvolume is a directory
  write_file(bridge_.at("btrfs/vol/data"), "version 1");

  auto snap = ctl("subvol snapshot -r /scheme/btrfs/vol btrfs:/vol-snap");
  ASSERT_EQ(snap.status, 0) << snap.output;
  write_file(bridge_.at("btrfs/vol/data"), "version 2, longer");

  EXPECT_EQ(read_file(bridge_.at("btrfs/vol/data")), "version 2, longer");
  EXPECT_EQ(read_file(bridge_.at("btrfs/vol-snap/data")), "version 1");
  EXPECT_EQ(ctl("cat btrfs:/vol-snap/data").output, "version 1");
}

TEST_F(BtrfsSchemeTest, ReadOnlySnapshotRefusesWrites) {
  ASSERT_EQ(ctl("subvol create btrfs:/vol").status, 0);
  write_file(bridge_.at("btrfs/vol/data"), "x");
  ASSERT_EQ(ctl("subvol snapshot -r btrfs:/vol btrfs:/ro").status, 0);
  auto put = run_command("echo y | " + binary("tools/bridgectl/bridgectl") + " --control '" +
                         bridge_.control_socket() + "' put btrfs:/ro/data");
  EXPECT_NE(put.status, 0);
  EXPECT_NE(put.output.find("Read-only file system"), std::string::npos) << put.output;
  EXPECT_EQ(ctl("subvol readonly btrfs:/ro").output, "on\n");
  EXPECT_EQ(ctl("subvol readonly btrfs:/vol").output, "off\n");
  ASSERT_EQ(ctl("subvol readonly btrfs:/vol on").status, 0);
  EXPECT_EQ(ctl("subvol readonly btrfs:/vol").output, "on\n");
}

TEST_F(BtrfsSchemeTest, ListShowsSubvolumesAndSnapshotOrigins) {
  ASSERT_EQ(ctl("subvol create btrfs:/a").status, 0);
  ASSERT_EQ(ctl("mkdir btrfs:/nested").status, 0);
  ASSERT_EQ(ctl("subvol create btrfs:/nested/b").status, 0);
  ASSERT_EQ(ctl("subvol snapshot btrfs:/a btrfs:/a-snap").status, 0);
  auto list = ctl("subvol list btrfs:/");
  ASSERT_EQ(list.status, 0) << list.output;
  EXPECT_NE(list.output.find(" a\n"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find(" nested/b\n"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find(" a-snap\n"), std::string::npos) << list.output;
  // The snapshot's line names its origin's uuid; a plain subvolume's shows "-".
  auto line_of = [&](const std::string& name) {
    auto end = list.output.find(" " + name + "\n");
    auto start = list.output.rfind('\n', end) + 1;
    return list.output.substr(start, end - start);
  };
  EXPECT_EQ(line_of("a-snap").find(" - "), std::string::npos) << line_of("a-snap");
  EXPECT_NE(line_of("a").find(" - "), std::string::npos) << line_of("a");

  ASSERT_EQ(ctl("subvol delete btrfs:/a-snap").status, 0);
  EXPECT_EQ(ctl("subvol list btrfs:/").output.find("a-snap"), std::string::npos);
  EXPECT_FALSE(fs::exists(bridge_.at("btrfs/a-snap")));
}

TEST_F(BtrfsSchemeTest, DefaultSubvolume) {
  ASSERT_EQ(ctl("subvol create btrfs:/root2").status, 0);
  auto before = ctl("subvol get-default btrfs:/");
  ASSERT_EQ(before.status, 0) << before.output;
  EXPECT_EQ(before.output, "5\n");  // the top-level subvolume
  ASSERT_EQ(ctl("subvol set-default btrfs:/root2").status, 0);
  auto after = ctl("subvol get-default btrfs:/");
  EXPECT_NE(after.output, "5\n");
}

TEST_F(BtrfsSchemeTest, SubvolumeErrorsAreClear) {
  auto missing = ctl("subvol delete btrfs:/nope");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("btrfs:/nope"), std::string::npos) << missing.output;
  auto cross = ctl("subvol snapshot btrfs:/home other:/x");
  EXPECT_NE(cross.status, 0);
  auto usage = ctl("subvol frobnicate btrfs:/");
  EXPECT_EQ(usage.status, 2);
}

}  // namespace
}  // namespace bridge::test
