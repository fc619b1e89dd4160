// Finding the VM's shared region: the first ivshmem-plain device (1af4:1110) under a sysfs-like
// tree is enabled and its resource2 mapped; other devices are skipped; none is not an error.
// The tree here is a temp directory shaped like /sys/bus/pci/devices (regular files stand in
// for sysfs attributes and the BAR).
#include "bridge-guest/ivshmem.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;

class IvshmemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ivshmem-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path device(const std::string& slot, const std::string& vendor, const std::string& id,
                  std::size_t bar_bytes) {
    fs::path dir = root_ / slot;
    fs::create_directories(dir);
    std::ofstream(dir / "vendor") << vendor << "\n";
    std::ofstream(dir / "device") << id << "\n";
    std::ofstream(dir / "enable") << "0\n";
    std::ofstream bar(dir / "resource2", std::ios::binary);
    bar << std::string(bar_bytes, '\0');
    return dir;
  }

  static std::string read(const fs::path& file) {
    std::ifstream in(file);
    std::string text;
    in >> text;
    return text;
  }

  fs::path root_;
};

TEST_F(IvshmemTest, MapsTheFirstIvshmemPlainDeviceAndEnablesIt) {
  device("0000:00:02.0", "0x1234", "0x1111", 4096);  // a VGA card: skipped
  auto ivshmem = device("0000:00:04.0", "0x1af4", "0x1110", 1 << 20);
  device("0000:00:05.0", "0x1af4", "0x1110", 2 << 20);  // a second one: not chosen
  auto mapped = map_ivshmem(root_.string());
  ASSERT_TRUE(mapped.ok()) << mapped.error().context;
  ASSERT_TRUE(mapped->has_value());
  EXPECT_EQ((*mapped)->size(), 1u << 20);
  EXPECT_EQ((*mapped)->what(), (ivshmem / "resource2").string());
  EXPECT_EQ(read(ivshmem / "enable"), "1");
}

TEST_F(IvshmemTest, NoDeviceIsNotAnError) {
  device("0000:00:03.0", "0x1af4", "0x1003", 4096);  // virtio-console: same vendor, not ivshmem
  auto mapped = map_ivshmem(root_.string());
  ASSERT_TRUE(mapped.ok());
  EXPECT_FALSE(mapped->has_value());
  auto missing = map_ivshmem((root_ / "no-such-dir").string());
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(IvshmemTest, AnUnmappableBarIsAnErrorNamingIt) {
  auto dir = device("0000:00:04.0", "0x1af4", "0x1110", 0);  // empty: nothing to map
  auto mapped = map_ivshmem(root_.string());
  ASSERT_FALSE(mapped.ok());
  EXPECT_NE(mapped.error().context.find((dir / "resource2").string()), std::string::npos);
}

}  // namespace
}  // namespace bridge::guest
