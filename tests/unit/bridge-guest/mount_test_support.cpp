#include "mount_test_support.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <cstddef>
#include <cstdlib>
#include <sstream>

namespace bridge::guest::testing {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

std::string kind_name(FsKind kind) {
  return kind == FsKind::ext4 ? "ext4" : "btrfs";
}

void PrintTo(FsKind kind, std::ostream* os) {
  *os << kind_name(kind);
}

std::string kind_param_name(const ::testing::TestParamInfo<FsKind>& info) {
  return kind_name(info.param);
}

void make_fs(const fs::path& img, FsKind kind) {
  auto r = kind == FsKind::ext4
               ? run("mke2fs -q -F -t ext4 " + quote(img) + " 64M")
               : run("truncate -s 256M " + quote(img) + " && mkfs.btrfs -q " + quote(img));
  ASSERT_EQ(r.status, 0) << r.output;
}

std::vector<std::string> loop_devices_of(const fs::path& img) {
  // "/dev/loop3: [2049]:1234 (/tmp/x/img)": the device is what precedes the first ':'.
  std::vector<std::string> devices;
  for (const auto& line : lines_of(run("losetup -j " + quote(img)).output)) {
    auto colon = line.find(':');
    if (colon != std::string::npos && line.rfind("/dev/", 0) == 0)
      devices.push_back(line.substr(0, colon));
  }
  return devices;
}

std::vector<std::string> mount_targets_of(const std::string& device) {
  return lines_of(run("findmnt -rn -o TARGET -S " + quote(device)).output);
}

void release_image(const fs::path& img) {
  for (const auto& dev : loop_devices_of(img)) {
    for (const auto& target : mount_targets_of(dev)) {
      if (run("umount " + quote(target)).status != 0) run("umount -l " + quote(target));
    }
    run("losetup -d " + quote(dev));
  }
}

LoopMount::LoopMount(fs::path img, fs::path dir, const std::string& options)
    : img_(std::move(img)), dir_(std::move(dir)) {
  fs::create_directories(dir_);
  std::string opts = options.empty() ? "loop" : "loop," + options;
  auto r = run("mount -o " + opts + " " + quote(img_) + " " + quote(dir_));
  if (r.status != 0) error_ = "mount " + img_.string() + ": " + r.output;
}

LoopMount::~LoopMount() {
  if (run("umount " + quote(dir_)).status != 0 && run("mountpoint -q " + quote(dir_)).status == 0)
    run("umount -l " + quote(dir_));
  release_image(img_);
}

ScratchFs::ScratchFs(FsKind kind, const std::string& mount_options)
    : img_(tmp_.path() / "img"), dir_(tmp_.path() / "mnt") {
  make_fs(img_, kind);
  if (::testing::Test::HasFatalFailure()) return;
  mount_ = std::make_unique<LoopMount>(img_, dir_, mount_options);
}

void fail_syscall_with(long nr, int err) {
  // Tests run natively, so the syscall number alone identifies the call (no arch check).
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & 0xffff)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  // INVARIANT: prog points at `filter`, which outlives the call (the kernel copies it); the
  // filter only reads seccomp_data.nr and returns ERRNO or ALLOW.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::perror("seccomp");
    std::_Exit(99);
  }
}

Attr attr_of(FsEngine& engine, const std::string& path, bool follow) {
  auto a = engine.getattr(P(path), follow);
  EXPECT_TRUE(a.ok()) << path << ": " << why(a);
  return a.ok() ? *a : Attr{};
}

bool write_at(OpenFile& file, uint64_t offset, const std::string& data) {
  auto n = file.write(offset, std::as_bytes(std::span(data.data(), data.size())));
  EXPECT_TRUE(n.ok()) << why(n);
  return n.ok() && *n == data.size();
}

std::string read_at(OpenFile& file, uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  auto got = file.read(offset, std::as_writable_bytes(std::span(out.data(), out.size())));
  EXPECT_TRUE(got.ok()) << why(got);
  if (!got.ok()) return {};
  out.resize(*got);
  return out;
}

}  // namespace bridge::guest::testing
