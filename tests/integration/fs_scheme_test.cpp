// A filesystem scheme end to end: real bridge-host with a real FUSE mount, real bridge-guest on a
// real image, over a unix socket. One suite, run against every engine: ext2fs (libext2fs on an
// ext4 image), mount (the guest kernel's ext4) and btrfs (the guest kernel's btrfs).
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

class FsSchemeTest : public ::testing::TestWithParam<ExportKind> {
 protected:
  FsSchemeTest() : bridge_(GetParam()) {}

  void SetUp() override {
    tree_ = bridge_.dir() / "tree";
    fs::create_directories(tree_ / "home/user");
    fs::create_directories(tree_ / "etc");
    write_file(tree_ / "home/file", kHello);
    write_file(tree_ / "etc/passwd", "the export's own passwd\n");
    fs::create_symlink("/etc/passwd", tree_ / "home/pw");
    fs::create_symlink("../../../../../..", tree_ / "home/up");
    write_random(tree_ / "home/big.bin", kBigSize);
    bridge_.make_image(tree_, 256);
    bridge_.start_host();
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for(in("home/file")))
        << read_file(bridge_.host_log()) << read_file(bridge_.guest_log());
  }

  // `rel` inside the scheme, relative to the mount ("ext4/home/file").
  std::string in(const std::string& rel) const { return scheme() + "/" + rel; }
  std::string at(const std::string& rel) const { return bridge_.at(in(rel)); }
  const std::string& scheme() const { return GetParam().scheme; }

  void restart_both() {
    bridge_.stop_all();
    bridge_.start_host();
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for(in("home/file")));
  }

  LocalBridge bridge_;
  fs::path tree_;
};

TEST_P(FsSchemeTest, CatShowsTheFile) {
  auto r = run_command("cat " + at("home/file"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, kHello);
}

TEST_P(FsSchemeTest, RootListsTheScheme) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(bridge_.mount()))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{scheme()});
}

TEST_P(FsSchemeTest, BigFileMatchesBySha256) {
  EXPECT_EQ(sha256_of(at("home/big.bin")), sha256_of((tree_ / "home/big.bin").string()));
}

TEST_P(FsSchemeTest, WriteWorkloadSurvivesRestartAndFsckIsClean) {
  const fs::path root = bridge_.at(scheme());
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

  bridge_.stop_all();  // SIGTERM: the guest flushes (and unmounts) the image
  auto fsck = bridge_.check_image();
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

TEST_P(FsSchemeTest, KillingTheGuestMidReadGivesEioNotAHang) {
  int fd = ::open(at("home/big.bin").c_str(), O_RDONLY);
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
  ASSERT_TRUE(
      wait_until([&] { return run_command("cat " + at("home/file")).output == kHello; }, 30s));
}

TEST_P(FsSchemeTest, GuestRedialsWhenTheHostRestarts) {
  bridge_.stop_host();
  bridge_.start_host();
  ASSERT_TRUE(bridge_.wait_for(in("home/file"))) << read_file(bridge_.guest_log());
  EXPECT_EQ(read_file(at("home/file")), kHello);
}

TEST_P(FsSchemeTest, ErrorsMapToErrno) {
  struct stat st;
  EXPECT_EQ(::stat(at("no/such").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::stat(bridge_.at("nosuchscheme").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::mkdir(at("home").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(::rmdir(at("home").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
}

TEST_P(FsSchemeTest, BridgectlAcceptsBothPathForms) {
  const std::string s = scheme();
  auto legacy = bridge_.bridgectl("cat " + s + ":/home/file");
  EXPECT_EQ(legacy.status, 0) << legacy.output;
  EXPECT_EQ(legacy.output, kHello);
  auto ns = bridge_.bridgectl("cat /scheme/" + s + "/home/file");
  EXPECT_EQ(ns.output, kHello);

  auto status = bridge_.bridgectl("status");
  EXPECT_NE(status.output.find(s), std::string::npos);
  EXPECT_NE(status.output.find("online"), std::string::npos);
  EXPECT_NE(status.output.find("testvm"), std::string::npos);
  EXPECT_NE(status.output.find(GetParam().engine), std::string::npos);

  EXPECT_EQ(bridge_.bridgectl("mkdir -p " + s + ":/made/deep/dir").status, 0);
  auto put = run_command("printf 'via bridgectl' | " + binary("tools/bridgectl/bridgectl") +
                         " --control '" + bridge_.control_socket() + "' put /scheme/" + s +
                         "/made/deep/dir/f");
  EXPECT_EQ(put.status, 0) << put.output;
  EXPECT_EQ(bridge_.bridgectl("cat " + s + ":/made/deep/dir/f").output, "via bridgectl");
  auto ls = bridge_.bridgectl("ls -l " + s + ":/made/deep/dir");
  EXPECT_NE(ls.output.find("-rw-r--r--"), std::string::npos) << ls.output;
  EXPECT_NE(ls.output.find(" f\n"), std::string::npos) << ls.output;
  auto st = bridge_.bridgectl("stat " + s + ":/made/deep/dir/f");
  EXPECT_NE(st.output.find("size: 13"), std::string::npos) << st.output;
  EXPECT_EQ(bridge_.bridgectl("rm " + s + ":/made/deep/dir/f " + s + ":/made/deep/dir").status, 0);
  EXPECT_FALSE(fs::exists(at("made/deep/dir")));

  auto missing = bridge_.bridgectl("cat " + s + ":/nope");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("No such file"), std::string::npos) << missing.output;
  auto bad = bridge_.bridgectl("cat nocolon");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("SCHEME:/PATH"), std::string::npos) << bad.output;
}

// The guest resolves symlinks itself when bridgectl opens through them: absolute targets and
// ".." chains stay inside the export (chroot semantics), never reaching the guest's own files.
TEST_P(FsSchemeTest, SymlinksResolveInsideTheExport) {
  const std::string s = scheme();
  auto pw = bridge_.bridgectl("cat " + s + ":/home/pw");
  EXPECT_EQ(pw.status, 0) << pw.output;
  EXPECT_EQ(pw.output, "the export's own passwd\n");
  auto up = bridge_.bridgectl("cat " + s + ":/home/up/etc/passwd");
  EXPECT_EQ(up.status, 0) << up.output;
  EXPECT_EQ(up.output, "the export's own passwd\n");
  auto dotdot = bridge_.bridgectl("cat " + s + ":/../../etc/passwd");
  EXPECT_NE(dotdot.status, 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, FsSchemeTest,
                         ::testing::Values(kExt2fsExport, ExportKind{"ext4", "mount", "ext4"},
                                           ExportKind{"btrfs", "btrfs", "btrfs"}),
                         [](const auto& info) { return info.param.engine; });

}  // namespace
}  // namespace bridge::test
