// The ext4 scheme end to end: real bridge-host with a real FUSE mount, real bridge-guest on a
// real mke2fs image, over a unix socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <random>

#include "tests/integration/local_bridge.h"

namespace bridge::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::size_t kBigSize = 64u << 20;
const std::string kHello = "hello from the guest\n";

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// A 64 MiB file of seeded pseudo-random bytes.
void write_random(const fs::path& path, std::size_t size) {
  std::mt19937_64 rng(42);
  std::vector<uint64_t> block(1 << 17);
  std::ofstream out(path, std::ios::binary);
  for (std::size_t done = 0; done < size; done += block.size() * 8) {
    for (auto& w : block) w = rng();
    out.write(reinterpret_cast<const char*>(block.data()),
              static_cast<std::streamsize>(std::min(size - done, block.size() * 8)));
  }
}

class Ext4SchemeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = bridge_.dir() / "tree";
    fs::create_directories(tree_ / "home/user");
    write_file(tree_ / "home/file", kHello);
    write_random(tree_ / "home/big.bin", kBigSize);
    bridge_.make_image(tree_, 160);
    bridge_.start_host();
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for("ext4/home/file"))
        << read_file(bridge_.host_log()) << read_file(bridge_.guest_log());
  }

  void restart_both() {
    bridge_.stop_all();
    bridge_.start_host();
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for("ext4/home/file"));
  }

  LocalBridge bridge_;
  fs::path tree_;
};

TEST_F(Ext4SchemeTest, CatShowsTheFile) {
  auto r = run_command("cat " + bridge_.at("ext4/home/file"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, kHello);
}

TEST_F(Ext4SchemeTest, RootListsTheScheme) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(bridge_.mount()))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"ext4"});
}

TEST_F(Ext4SchemeTest, BigFileMatchesBySha256) {
  EXPECT_EQ(sha256_of(bridge_.at("ext4/home/big.bin")),
            sha256_of((tree_ / "home/big.bin").string()));
}

TEST_F(Ext4SchemeTest, WriteWorkloadSurvivesRestartAndFsckIsClean) {
  const fs::path root = bridge_.at("ext4");
  fs::create_directories(root / "work/sub");
  write_file(root / "work/a.txt", "first");
  {
    std::ofstream append(root / "work/a.txt", std::ios::app);
    append << " second";
  }
  write_file(root / "work/trunc.txt", std::string(100000, 'x'));
  fs::resize_file(root / "work/trunc.txt", 1234);
  write_file(root / "work/old-name", "renamed");
  fs::rename(root / "work/old-name", root / "work/sub/new-name");
  write_file(root / "work/gone", "bye");
  fs::remove(root / "work/gone");
  fs::create_symlink("../home/file", root / "work/link");
  fs::permissions(root / "work/a.txt", fs::perms(0600));
  fs::remove(root / "home/big.bin");  // frees 64 MiB of extents

  bridge_.stop_all();  // SIGTERM: the guest flushes and marks the image clean
  auto fsck = run_command("e2fsck -fn '" + bridge_.image() + "'");
  EXPECT_EQ(fsck.status, 0) << fsck.output;

  restart_both();
  EXPECT_EQ(read_file((root / "work/a.txt").string()), "first second");
  EXPECT_EQ(fs::file_size(root / "work/trunc.txt"), 1234u);
  EXPECT_EQ(read_file((root / "work/trunc.txt").string()), std::string(1234, 'x'));
  EXPECT_EQ(read_file((root / "work/sub/new-name").string()), "renamed");
  EXPECT_FALSE(fs::exists(root / "work/old-name"));
  EXPECT_FALSE(fs::exists(root / "work/gone"));
  EXPECT_FALSE(fs::exists(root / "home/big.bin"));
  EXPECT_EQ(fs::read_symlink(root / "work/link"), "../home/file");
  EXPECT_EQ(fs::status(root / "work/a.txt").permissions() & fs::perms::all, fs::perms(0600));
  EXPECT_TRUE(fs::is_directory(root / "work/sub"));
}

TEST_F(Ext4SchemeTest, KillingTheGuestMidReadGivesEioNotAHang) {
  int fd = ::open(bridge_.at("ext4/home/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<char> buf(1 << 20);
  ASSERT_EQ(::pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
  bridge_.kill_guest();
  // Far from what readahead may have fetched, so the kernel has to ask the host.
  auto read_after = std::async(std::launch::async, [&] {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), kBigSize - (4 << 20));
    return n < 0 ? errno : 0;
  });
  ASSERT_EQ(read_after.wait_for(20s), std::future_status::ready) << "read hung after guest loss";
  EXPECT_EQ(read_after.get(), EIO);
  ::close(fd);

  // The scheme comes back when the guest does.
  bridge_.start_guest();
  ASSERT_TRUE(wait_until(
      [&] { return run_command("cat " + bridge_.at("ext4/home/file")).output == kHello; }, 30s));
}

TEST_F(Ext4SchemeTest, GuestRedialsWhenTheHostRestarts) {
  bridge_.stop_host();
  bridge_.start_host();
  ASSERT_TRUE(bridge_.wait_for("ext4/home/file")) << read_file(bridge_.guest_log());
  EXPECT_EQ(read_file(bridge_.at("ext4/home/file")), kHello);
}

TEST_F(Ext4SchemeTest, ErrorsMapToErrno) {
  struct stat st;
  EXPECT_EQ(::stat(bridge_.at("ext4/no/such").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::stat(bridge_.at("nosuchscheme").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::mkdir(bridge_.at("ext4/home").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(::rmdir(bridge_.at("ext4/home").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
}

TEST_F(Ext4SchemeTest, BridgectlAcceptsBothPathForms) {
  auto legacy = bridge_.bridgectl("cat ext4:/home/file");
  EXPECT_EQ(legacy.status, 0) << legacy.output;
  EXPECT_EQ(legacy.output, kHello);
  auto ns = bridge_.bridgectl("cat /scheme/ext4/home/file");
  EXPECT_EQ(ns.output, kHello);

  auto status = bridge_.bridgectl("status");
  EXPECT_NE(status.output.find("ext4"), std::string::npos);
  EXPECT_NE(status.output.find("online"), std::string::npos);
  EXPECT_NE(status.output.find("testvm"), std::string::npos);

  EXPECT_EQ(bridge_.bridgectl("mkdir -p ext4:/made/deep/dir").status, 0);
  auto put =
      run_command("printf 'via bridgectl' | " + binary("tools/bridgectl/bridgectl") +
                  " --control '" + bridge_.control_socket() + "' put /scheme/ext4/made/deep/dir/f");
  EXPECT_EQ(put.status, 0) << put.output;
  EXPECT_EQ(bridge_.bridgectl("cat ext4:/made/deep/dir/f").output, "via bridgectl");
  auto ls = bridge_.bridgectl("ls -l ext4:/made/deep/dir");
  EXPECT_NE(ls.output.find("-rw-r--r--"), std::string::npos) << ls.output;
  EXPECT_NE(ls.output.find(" f\n"), std::string::npos) << ls.output;
  auto st = bridge_.bridgectl("stat ext4:/made/deep/dir/f");
  EXPECT_NE(st.output.find("size: 13"), std::string::npos) << st.output;
  EXPECT_EQ(bridge_.bridgectl("rm ext4:/made/deep/dir/f ext4:/made/deep/dir").status, 0);
  EXPECT_FALSE(fs::exists(bridge_.at("ext4/made/deep/dir")));

  auto missing = bridge_.bridgectl("cat ext4:/nope");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("No such file"), std::string::npos) << missing.output;
  auto bad = bridge_.bridgectl("cat nocolon");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("SCHEME:/PATH"), std::string::npos) << bad.output;
  auto escape = bridge_.bridgectl("cat ext4:/../../etc/passwd");
  EXPECT_NE(escape.status, 0);
}

}  // namespace
}  // namespace bridge::test
