// The shared region in local mode, end to end: bridge-host makes a memfd per guest connection and
// passes it with its hello; bridge-guest maps it; file data then moves through host-allocated
// ranges of it. The same 64 MiB file must come out identical with the region and without it
// (--region-size 0), and the logs must say which path carried it.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "tests/integration/local_bridge.h"

namespace bridge::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kBigSize = 64u << 20;

void write_random(const fs::path& path, std::size_t size) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> block(1 << 17);
  std::ofstream out(path, std::ios::binary);
  for (std::size_t done = 0; done < size; done += block.size() * 8) {
    for (auto& w : block) w = rng();
    // INVARIANT: uint64_t storage is plain bytes.
    out.write(reinterpret_cast<const char*>(block.data()),
              static_cast<std::streamsize>(std::min(size - done, block.size() * 8)));
  }
}

bool contains(const std::string& log, const std::string& text) {
  return log.find(text) != std::string::npos;
}

class RegionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = bridge_.dir() / "tree";
    fs::create_directories(tree_ / "home");
    std::ofstream(tree_ / "home/file") << "small\n";
    write_random(tree_ / "home/big.bin", kBigSize);
    bridge_.make_image(tree_, 256);  // room for a 64 MiB copy
  }

  void start(std::vector<std::string> host_args) {
    bridge_.start_host(std::move(host_args));
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for("ext4/home/file"))
        << read_file(bridge_.host_log()) << read_file(bridge_.guest_log());
  }

  // Reads and writes a 64 MiB file through the mount; both must match the original.
  void expect_big_file_round_trips() {
    const std::string want = sha256_of((tree_ / "home/big.bin").string());
    EXPECT_EQ(sha256_of(bridge_.at("ext4/home/big.bin")), want);
    auto copy = run_command("cp '" + (tree_ / "home/big.bin").string() + "' '" +
                            bridge_.at("ext4/home/copy.bin") + "'");
    ASSERT_EQ(copy.status, 0) << copy.output;
    bridge_.stop_all();  // a fresh start reads the copy from the image, not from a cache
    start({});
    EXPECT_EQ(sha256_of(bridge_.at("ext4/home/copy.bin")), want);
  }

  LocalBridge bridge_;
  fs::path tree_;
};

TEST_F(RegionTest, SixtyFourMiBThroughTheRegion) {
  start({});
  auto host = read_file(bridge_.host_log());
  EXPECT_TRUE(contains(host, "region: 64 MiB shared with guest 'testvm'")) << host;
  EXPECT_TRUE(contains(read_file(bridge_.guest_log()), "shared region: 64 MiB"));
  expect_big_file_round_trips();
  EXPECT_TRUE(contains(read_file(bridge_.host_log()), "file reads go through the shared region"));
}

TEST_F(RegionTest, SixtyFourMiBInlineWithRegionSizeZero) {
  start({"--region-size", "0"});
  auto host = read_file(bridge_.host_log());
  EXPECT_TRUE(contains(host, "no shared region on this link")) << host;
  const std::string want = sha256_of((tree_ / "home/big.bin").string());
  EXPECT_EQ(sha256_of(bridge_.at("ext4/home/big.bin")), want);
  auto copy = run_command("cp '" + (tree_ / "home/big.bin").string() + "' '" +
                          bridge_.at("ext4/home/copy.bin") + "'");
  ASSERT_EQ(copy.status, 0) << copy.output;
  EXPECT_EQ(sha256_of(bridge_.at("ext4/home/copy.bin")), want);
  EXPECT_FALSE(contains(read_file(bridge_.host_log()), "file reads go through the shared region"));
  EXPECT_TRUE(contains(read_file(bridge_.guest_log()), "the host passed no shared region"));
}

TEST_F(RegionTest, GuestWithoutARegionMakesTheHostGoInline) {
  bridge_.start_host();
  bridge_.start_guest({"--region", "none"});
  ASSERT_TRUE(bridge_.wait_for("ext4/home/file"));
  EXPECT_EQ(read_file(bridge_.at("ext4/home/file")), "small\n");
  EXPECT_TRUE(contains(read_file(bridge_.host_log()), "shared region not used"));
  EXPECT_EQ(sha256_of(bridge_.at("ext4/home/big.bin")),
            sha256_of((tree_ / "home/big.bin").string()));
}

}  // namespace
}  // namespace bridge::test
