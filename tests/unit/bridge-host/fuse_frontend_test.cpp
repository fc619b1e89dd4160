// The FUSE frontend over a real FUSE mount in a temp dir (root, /dev/fuse), serving the
// MemoryFsScheme test double; the tests use plain syscalls on the mountpoint.
#include "bridge-host/frontends/fuse/fuse_frontend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bridge-host/frontends/fuse/fuse_mounts.h"
#include "bridge-host/frontends/fuse/fuse_paths.h"
#include "tests/unit/bridge-host/memory_fs_scheme.h"

namespace bridge::host {
namespace {

using namespace std::chrono_literals;
using test::MemoryFsScheme;

constexpr std::size_t kMaxIo = 64 * 1024;

// The mounts at `path`, top last, read straight from the kernel (not through the frontend's
// own parser, so the tests check it rather than trust it).
std::vector<std::string> fstypes_at(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> types;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t sp; (sp = line.find(' ', start)) != std::string::npos; start = sp + 1)
      f.push_back(line.substr(start, sp - start));
    f.push_back(line.substr(start));
    auto dash = std::find(f.begin() + 6, f.end(), "-");
    if (f.size() > 4 && f[4] == path && dash + 1 < f.end()) types.push_back(*(dash + 1));
  }
  return types;
}

std::string device_at(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string found;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mp;
    fields >> id >> parent >> dev >> root >> mp;
    if (mp == path) found = dev;
  }
  return found;
}

// The kernel sends RELEASE after close(2) has returned, so its effects arrive a little later.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 2000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

int errno_of(int rc) {
  return rc == -1 ? errno : 0;
}

std::string read_all(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<open failed: " + std::to_string(errno) + ">";
  std::string out;
  std::vector<char> buf(1 << 20);
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) out.append(buf.data(), n);
  ::close(fd);
  return out;
}

bool write_all(const std::string& path, const std::string& data, int flags = O_TRUNC) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | flags, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

std::vector<std::string> list_dir(const std::string& path, bool with_dots = false) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return {"<opendir failed: " + std::to_string(errno) + ">"};
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (with_dots || (name != "." && name != "..")) names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen());
  return out;
}

SchemeInfo fs_info(std::string name, bool online = true) {
  SchemeInfo info;
  info.name = std::move(name);
  info.engine = "memory";
  info.online = online;
  return info;
}

class FuseFrontendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fuse-frontend-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    mountpoint_ = base_ + "/scheme";
    mem_ = std::make_shared<MemoryFsScheme>(MemoryFsScheme::Options{.max_io = kMaxIo});
    registry_.put(fs_info("mem"), mem_);
    start_frontend();
  }

  void TearDown() override {
    mem_->set_block_reads(false);
    frontend_.reset();
    // Whatever a failing test left behind: no mount outlives the fixture.
    for (int i = 0; i < 8 && !fstypes_at(mountpoint_).empty(); ++i)
      ::umount2(mountpoint_.c_str(), MNT_DETACH);
    EXPECT_TRUE(fstypes_at(mountpoint_).empty());
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
  }

  FuseOptions options() const { return FuseOptions{.mountpoint = mountpoint_}; }

  void start_frontend() {
    auto started = FuseFrontend::start(registry_, options());
    ASSERT_TRUE(started) << started.error().context;
    frontend_ = std::move(started).value();
  }

  std::string at(const std::string& rel) const { return mountpoint_ + "/" + rel; }

  SchemeRegistry registry_;
  std::shared_ptr<MemoryFsScheme> mem_;
  std::unique_ptr<FuseFrontend> frontend_;
  std::string base_;
  std::string mountpoint_;
};

TEST_F(FuseFrontendTest, MountIsFuseSchemeAtTheMountpoint) {
  EXPECT_EQ(frontend_->mountpoint(), mountpoint_);
  EXPECT_EQ(fstypes_at(mountpoint_), std::vector<std::string>{"fuse.scheme"});
  // Guest data is untrusted: its setuid bits and device nodes must mean nothing here.
  std::ifstream in("/proc/self/mountinfo");
  std::string options;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mp, opts;
    fields >> id >> parent >> dev >> root >> mp >> opts;
    if (mp == mountpoint_) options = opts;
  }
  EXPECT_NE(options.find("nosuid"), std::string::npos) << options;
  EXPECT_NE(options.find("nodev"), std::string::npos) << options;
}

TEST_F(FuseFrontendTest, RootListsOnlineFilesystemSchemesOnly) {
  auto offline = std::make_shared<MemoryFsScheme>();
  offline->set_online(false);
  registry_.put(fs_info("gone", false), offline);
  SchemeInfo display = fs_info("display.bochs");
  display.display = true;
  registry_.put(display, nullptr);
  registry_.put(fs_info("mem2"), std::make_shared<MemoryFsScheme>());

  EXPECT_EQ(list_dir(mountpoint_), (std::vector<std::string>{"mem", "mem2"}));
  EXPECT_EQ(list_dir(mountpoint_, true), (std::vector<std::string>{".", "..", "mem", "mem2"}));

  struct stat st {};
  ASSERT_EQ(::stat(mountpoint_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(::stat(at("mem").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(errno_of(::stat(at("nope").c_str(), &st)), ENOENT);
  EXPECT_EQ(errno_of(::stat(at("display.bochs").c_str(), &st)), ENOENT);
  EXPECT_EQ(errno_of(::stat(at("gone").c_str(), &st)), EIO);
}

TEST_F(FuseFrontendTest, MountRootIsReadOnly) {
  EXPECT_EQ(errno_of(::mkdir(at("newscheme").c_str(), 0755)), EPERM);
  EXPECT_EQ(errno_of(::open(at("file").c_str(), O_CREAT | O_WRONLY, 0644)), EPERM);
  EXPECT_EQ(errno_of(::symlink("x", at("link").c_str())), EPERM);
  EXPECT_EQ(errno_of(::rmdir(at("mem").c_str())), EPERM);
  EXPECT_EQ(errno_of(::rename(at("mem").c_str(), at("other").c_str())), EPERM);
  EXPECT_EQ(errno_of(::chmod(mountpoint_.c_str(), 0777)), EPERM);
  EXPECT_EQ(errno_of(::setxattr(mountpoint_.c_str(), "user.x", "1", 1, 0)), EPERM);
}

TEST_F(FuseFrontendTest, SchemeMarkedOfflineDisappearsAndComesBack) {
  int owner = 0;
  registry_.set_owner("mem", &owner);
  ASSERT_TRUE(mem_->add_file("f", "x"));
  EXPECT_EQ(list_dir(mountpoint_), std::vector<std::string>{"mem"});

  registry_.mark_offline(&owner);
  mem_->set_online(false);  // what the remote scheme of a lost guest does
  EXPECT_TRUE(list_dir(mountpoint_).empty());
  struct stat st {};
  EXPECT_EQ(errno_of(::stat(at("mem/f").c_str(), &st)), EIO);

  mem_->set_online(true);
  registry_.put(fs_info("mem"), mem_);
  EXPECT_EQ(list_dir(mountpoint_), std::vector<std::string>{"mem"});
  EXPECT_EQ(read_all(at("mem/f")), "x");
}

TEST_F(FuseFrontendTest, WriteReadAppendTruncate) {
  ASSERT_TRUE(write_all(at("mem/a.txt"), "hello"));
  EXPECT_EQ(read_all(at("mem/a.txt")), "hello");
  EXPECT_EQ(mem_->file_content("a.txt"), "hello");

  ASSERT_TRUE(write_all(at("mem/a.txt"), " world", O_APPEND));
  EXPECT_EQ(read_all(at("mem/a.txt")), "hello world");

  ASSERT_EQ(::truncate(at("mem/a.txt").c_str(), 5), 0);
  EXPECT_EQ(read_all(at("mem/a.txt")), "hello");

  int fd = ::open(at("mem/a.txt").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 2), 0);
  ASSERT_EQ(::pwrite(fd, "!", 1, 4), 1);  // past the end: a hole of zeros
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 5);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(read_all(at("mem/a.txt")), std::string("he\0\0!", 5));

  ASSERT_TRUE(write_all(at("mem/a.txt"), ""));  // O_TRUNC
  EXPECT_EQ(mem_->file_content("a.txt"), "");
  EXPECT_TRUE(eventually([&] { return mem_->open_files() == 0; }));  // every open released
}

TEST_F(FuseFrontendTest, ReadLargerThanMaxIoIsSplit) {
  const std::string content = random_bytes(3 * 1024 * 1024 + 123, 1);
  ASSERT_TRUE(mem_->add_file("big", content));
  mem_->reset_counters();

  EXPECT_TRUE(read_all(at("mem/big")) == content);
  int fd = ::open(at("mem/big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string tail(1 << 20, '\0');  // spans the end of file: short read
  const off_t offset = static_cast<off_t>(content.size()) - 1000;
  ASSERT_EQ(::pread(fd, tail.data(), tail.size(), offset), 1000);
  EXPECT_EQ(tail.substr(0, 1000), content.substr(offset));
  EXPECT_EQ(::pread(fd, tail.data(), tail.size(), content.size() + 10), 0);
  ::close(fd);

  auto counters = mem_->counters();
  EXPECT_EQ(counters.oversized_io, 0u);
  EXPECT_EQ(counters.max_read, kMaxIo);
  EXPECT_GE(counters.reads, content.size() / kMaxIo);
}

TEST_F(FuseFrontendTest, UncachedLargeReadIsSplitIntoMaxIoChunks) {
  // O_DIRECT skips the page cache: the kernel sends the read as big as max_read/max_pages
  // allow, so the frontend itself has to split it.
  const std::string content = random_bytes(2 * 1024 * 1024, 2);
  ASSERT_TRUE(mem_->add_file("direct", content));
  int fd = ::open(at("mem/direct").c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0);
  void* raw = nullptr;
  ASSERT_EQ(::posix_memalign(&raw, 4096, 1 << 20), 0);
  std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
  mem_->reset_counters();
  ASSERT_EQ(::pread(fd, buf.get(), 1 << 20, 4096), 1 << 20);
  ::close(fd);
  EXPECT_TRUE(std::equal(buf.get(), buf.get() + (1 << 20), content.begin() + 4096));
  auto counters = mem_->counters();
  EXPECT_EQ(counters.oversized_io, 0u);
  EXPECT_EQ(counters.max_read, kMaxIo);
  EXPECT_EQ(counters.reads, (1u << 20) / kMaxIo);  // one 1 MiB request, 16 scheme calls
}

TEST_F(FuseFrontendTest, WriteLargerThanMaxIoIsSplit) {
  const std::string content = random_bytes(2 * 1024 * 1024 + 7, 3);
  mem_->reset_counters();
  ASSERT_TRUE(write_all(at("mem/w"), content));
  EXPECT_TRUE(mem_->file_content("w") == content);
  auto counters = mem_->counters();
  EXPECT_EQ(counters.oversized_io, 0u);
  EXPECT_EQ(counters.max_write, kMaxIo);
}

TEST_F(FuseFrontendTest, SmallWritesCostOneSchemeCallEach) {
  int fd = ::open(at("mem/small").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  mem_->reset_counters();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ::close(fd);
  auto counters = mem_->counters();
  EXPECT_EQ(counters.writes, 100u);
  EXPECT_EQ(counters.getxattrs, 0u);  // the kernel's security.capability probe stays local
  EXPECT_EQ(mem_->file_content("small")->size(), 1000u);
}

TEST_F(FuseFrontendTest, ReadaheadIsRaisedTo1MiB) {
  const std::string dev = device_at(mountpoint_);
  ASSERT_FALSE(dev.empty());
  std::ifstream in("/sys/class/bdi/" + dev + "/read_ahead_kb");
  unsigned kb = 0;
  in >> kb;
  EXPECT_EQ(kb, 1024u);
}

TEST_F(FuseFrontendTest, NamesRoundTrip) {
  ASSERT_EQ(::mkdir(at("mem/dir").c_str(), 0750), 0);
  struct stat st {};
  ASSERT_EQ(::stat(at("mem/dir").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u & ~0u);

  ASSERT_TRUE(write_all(at("mem/f1"), "one"));
  ASSERT_TRUE(write_all(at("mem/f2"), "two"));
  ASSERT_EQ(::rename(at("mem/f1").c_str(), at("mem/dir/f1").c_str()), 0);
  EXPECT_EQ(read_all(at("mem/dir/f1")), "one");
  EXPECT_EQ(errno_of(::stat(at("mem/f1").c_str(), &st)), ENOENT);

  EXPECT_EQ(errno_of(::renameat2(AT_FDCWD, at("mem/f2").c_str(), AT_FDCWD, at("mem/dir/f1").c_str(),
                                 RENAME_NOREPLACE)),
            EEXIST);
  ASSERT_EQ(::renameat2(AT_FDCWD, at("mem/f2").c_str(), AT_FDCWD, at("mem/dir/f1").c_str(),
                        RENAME_EXCHANGE),
            0);
  EXPECT_EQ(read_all(at("mem/f2")), "one");
  EXPECT_EQ(read_all(at("mem/dir/f1")), "two");

  ASSERT_EQ(::symlink("dir/f1", at("mem/sl").c_str()), 0);
  char target[64] = {};
  ASSERT_EQ(::readlink(at("mem/sl").c_str(), target, sizeof target), 6);
  EXPECT_STREQ(target, "dir/f1");
  ASSERT_EQ(::lstat(at("mem/sl").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(read_all(at("mem/sl")), "two");  // the kernel follows it through the mount

  ASSERT_EQ(::link(at("mem/f2").c_str(), at("mem/hard").c_str()), 0);
  ASSERT_EQ(::stat(at("mem/hard").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(read_all(at("mem/hard")), "one");

  ASSERT_EQ(::unlink(at("mem/dir/f1").c_str()), 0);
  ASSERT_EQ(::rmdir(at("mem/dir").c_str()), 0);
  EXPECT_EQ(list_dir(at("mem")), (std::vector<std::string>{"f2", "hard", "sl"}));
}

TEST_F(FuseFrontendTest, AttributesAndXattrsRoundTrip) {
  ASSERT_TRUE(write_all(at("mem/f"), "data"));
  const std::string f = at("mem/f");
  struct stat st {};

  ASSERT_EQ(::chmod(f.c_str(), 0640), 0);
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  ASSERT_EQ(::chown(f.c_str(), 1234, 5678), 0);
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);

  const struct timespec times[2] = {{.tv_sec = 1000, .tv_nsec = 500},
                                    {.tv_sec = 2000, .tv_nsec = 250}};
  ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_atim.tv_nsec, 500);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 250);
  const struct timespec omit_now[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT},
                                       {.tv_sec = 0, .tv_nsec = UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), omit_now, 0), 0);
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_GT(st.st_mtim.tv_sec, ::time(nullptr) - 60);

  ASSERT_EQ(::setxattr(f.c_str(), "user.color", "blue", 4, 0), 0);
  EXPECT_EQ(::getxattr(f.c_str(), "user.color", nullptr, 0), 4);  // size probe
  char small[2];
  EXPECT_EQ(errno_of(static_cast<int>(::getxattr(f.c_str(), "user.color", small, 2))), ERANGE);
  char value[16] = {};
  ASSERT_EQ(::getxattr(f.c_str(), "user.color", value, sizeof value), 4);
  EXPECT_STREQ(value, "blue");
  const std::string names("user.color\0", 11);
  EXPECT_EQ(::listxattr(f.c_str(), nullptr, 0), 11);
  char list[64] = {};
  ASSERT_EQ(::listxattr(f.c_str(), list, sizeof list), 11);
  EXPECT_EQ(std::string(list, 11), names);
  EXPECT_EQ(errno_of(static_cast<int>(::listxattr(f.c_str(), list, 3))), ERANGE);
  EXPECT_EQ(errno_of(::setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE)), EEXIST);
  EXPECT_EQ(errno_of(::setxattr(f.c_str(), "user.size", "1", 1, XATTR_REPLACE)), ENODATA);
  ASSERT_EQ(::removexattr(f.c_str(), "user.color"), 0);
  EXPECT_EQ(errno_of(static_cast<int>(::getxattr(f.c_str(), "user.color", value, 16))), ENODATA);
}

TEST_F(FuseFrontendTest, ReaddirPagesThrough2000Entries) {
  ASSERT_TRUE(mem_->add_dir("many"));
  std::vector<std::string> expected;
  for (int i = 0; i < 2000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "file-%04d", i);
    expected.push_back(name);
    ASSERT_TRUE(mem_->add_file(std::string("many/") + name, ""));
  }
  mem_->reset_counters();
  EXPECT_EQ(list_dir(at("mem/many")), expected);
  EXPECT_GE(mem_->counters().readdirs, 20u);  // the double serves 100 entries a page

  // seekdir back to a telldir position: the frontend re-fetches from a known page cookie.
  DIR* dir = ::opendir(at("mem/many").c_str());
  ASSERT_NE(dir, nullptr);
  for (int i = 0; i < 502; ++i) ASSERT_NE(::readdir(dir), nullptr);  // ".", "..", 500 names
  const long pos = ::telldir(dir);
  std::vector<std::string> first, again;
  for (int i = 0; i < 300; ++i) first.push_back(::readdir(dir)->d_name);
  ::seekdir(dir, pos);
  for (int i = 0; i < 300; ++i) again.push_back(::readdir(dir)->d_name);
  ::closedir(dir);
  EXPECT_EQ(first, again);
  EXPECT_EQ(first.front(), "file-0500");
}

TEST_F(FuseFrontendTest, ListingCarriesAttributesSoLsLNeedsNoGetattr) {
  ASSERT_TRUE(mem_->add_dir("plus"));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(mem_->add_file("plus/f" + std::to_string(i), std::string(i, 'x')));
  DIR* dir = ::opendir(at("mem/plus").c_str());  // looks the directory itself up first
  ASSERT_NE(dir, nullptr);
  mem_->reset_counters();
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  ::closedir(dir);
  ASSERT_EQ(names.size(), 12u);
  for (const auto& name : names) {
    struct stat st {};
    ASSERT_EQ(::lstat(at("mem/plus/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_size, std::stoi(name.substr(1)));
  }
  EXPECT_EQ(mem_->counters().getattrs, 0u);
}

TEST_F(FuseFrontendTest, ErrorsMapToErrno) {
  registry_.put(fs_info("mem2"), std::make_shared<MemoryFsScheme>());
  EXPECT_EQ(errno_of(::open(at("mem/missing").c_str(), O_RDONLY)), ENOENT);
  ASSERT_EQ(::mkdir(at("mem/d").c_str(), 0755), 0);
  EXPECT_EQ(errno_of(::mkdir(at("mem/d").c_str(), 0755)), EEXIST);
  ASSERT_TRUE(write_all(at("mem/d/f"), "x"));
  EXPECT_EQ(errno_of(::rmdir(at("mem/d").c_str())), ENOTEMPTY);
  EXPECT_EQ(errno_of(::open(at("mem/d/f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)), EEXIST);
  EXPECT_EQ(errno_of(::rename(at("mem/d/f").c_str(), at("mem2/f").c_str())), EXDEV);
  EXPECT_EQ(errno_of(::link(at("mem/d/f").c_str(), at("mem2/f").c_str())), EXDEV);
  char target[16];
  EXPECT_EQ(errno_of(static_cast<int>(::readlink(at("mem/d/f").c_str(), target, 16))), EINVAL);
}

TEST_F(FuseFrontendTest, ExceptionFromSchemeBecomesEio) {
  ASSERT_TRUE(mem_->add_file("t", "x"));
  mem_->throw_on_next_call();
  struct stat st {};
  EXPECT_EQ(errno_of(::stat(at("mem/t").c_str(), &st)), EIO);
  EXPECT_EQ(::stat(at("mem/t").c_str(), &st), 0);  // the frontend is still serving
  EXPECT_EQ(read_all(at("mem/t")), "x");
}

TEST_F(FuseFrontendTest, UnlinkedOpenFileStaysUsableByHandle) {
  ASSERT_TRUE(write_all(at("mem/u"), "still here"));
  int fd = ::open(at("mem/u").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::unlink(at("mem/u").c_str()), 0);
  EXPECT_TRUE(list_dir(at("mem")).empty());  // no .fuse_hidden files
  char buf[32] = {};
  EXPECT_EQ(::pread(fd, buf, sizeof buf, 0), 10);
  EXPECT_STREQ(buf, "still here");
  EXPECT_EQ(::pwrite(fd, "S", 1, 0), 1);
  EXPECT_EQ(::ftruncate(fd, 5), 0);  // setattr by handle
  EXPECT_EQ(::pread(fd, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "Still");
  EXPECT_EQ(::fsync(fd), 0);
  // Known limitation: fstat(2) reaches FUSE as a getattr by inode without the file handle,
  // and libfuse's path-based API has no path for an unlinked inode, so it answers ESTALE.
  struct stat st {};
  EXPECT_EQ(errno_of(::fstat(fd, &st)), ESTALE);
  EXPECT_EQ(::close(fd), 0);
}

TEST_F(FuseFrontendTest, StatfsPassesThrough) {
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(at("mem").c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_bsize, 4096u);
  EXPECT_EQ(vfs.f_blocks, 1u << 20);
  EXPECT_EQ(vfs.f_bavail, 1u << 18);
  ASSERT_EQ(::statvfs(mountpoint_.c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_namemax, 255u);
}

TEST_F(FuseFrontendTest, SecondStartOnTheSameMountpointFails) {
  auto second = FuseFrontend::start(registry_, options());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), EBUSY);
  EXPECT_NE(second.error().context.find(mountpoint_), std::string::npos) << second.error().context;
  EXPECT_EQ(list_dir(mountpoint_), std::vector<std::string>{"mem"});  // the first still serves
}

TEST_F(FuseFrontendTest, StopUnmountsPromptlyWhileAReadIsBlocked) {
  ASSERT_TRUE(mem_->add_file("slow", "payload"));
  int fd = ::open(at("mem/slow").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  mem_->set_block_reads(true);
  auto reader = std::async(std::launch::async, [fd] {
    char buf[16];
    return errno_of(static_cast<int>(::pread(fd, buf, sizeof buf, 0)));
  });
  ASSERT_TRUE(mem_->wait_for_blocked_read(5s));

  const auto t0 = std::chrono::steady_clock::now();
  // From another thread, as a signal-handling thread would; twice at once, for idempotence.
  auto stopper = std::async(std::launch::async, [&] { frontend_->stop(); });
  frontend_->stop();
  if (stopper.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "stop() hung";
    std::abort();  // the next run's start() clears the mount this leaves
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(fstypes_at(mountpoint_).empty());
  // The blocked client is failed by the abort rather than left waiting for the guest.
  ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
  EXPECT_NE(reader.get(), 0);
  ::close(fd);

  mem_->set_block_reads(false);  // the worker inside the scheme call can now finish
  auto joined = std::async(std::launch::async, [&] { frontend_.reset(); });
  ASSERT_EQ(joined.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(mem_->open_files(), 0u);  // the destructor closed what the kernel never released
}

TEST_F(FuseFrontendTest, StopWithIdleLoopEndsAndDestructorJoins) {
  const auto t0 = std::chrono::steady_clock::now();
  frontend_->stop();
  frontend_->stop();
  frontend_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(fstypes_at(mountpoint_).empty());
  start_frontend();  // the mountpoint is reusable at once
  EXPECT_EQ(list_dir(mountpoint_), std::vector<std::string>{"mem"});
}

TEST_F(FuseFrontendTest, StaleMountIsClearedAtStart) {
  frontend_.reset();
  // A FUSE mount whose server is gone, as a crashed bridge-host leaves it.
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string opts =
      "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0,allow_other";
  ASSERT_EQ(
      ::mount("crashed", mountpoint_.c_str(), "fuse.scheme", MS_NOSUID | MS_NODEV, opts.c_str()), 0)
      << std::strerror(errno);
  ::close(fd);
  struct stat st {};
  ASSERT_EQ(errno_of(::stat(mountpoint_.c_str(), &st)), ENOTCONN);

  start_frontend();
  EXPECT_EQ(fstypes_at(mountpoint_), std::vector<std::string>{"fuse.scheme"});
  EXPECT_EQ(list_dir(mountpoint_), std::vector<std::string>{"mem"});
}

TEST_F(FuseFrontendTest, MissingMountpointIsCreated) {
  frontend_.reset();
  mountpoint_ = base_ + "/deeper/scheme";
  start_frontend();
  EXPECT_EQ(fstypes_at(mountpoint_), std::vector<std::string>{"fuse.scheme"});
}

TEST(FusePathTest, SplitsSchemeAndPath) {
  using fuse_impl::parse_fuse_path;
  auto root = parse_fuse_path("/");
  ASSERT_TRUE(root);
  EXPECT_TRUE(root->is_mount_root());
  auto scheme_root = parse_fuse_path("/ext4");
  ASSERT_TRUE(scheme_root);
  EXPECT_TRUE(scheme_root->is_scheme_root());
  EXPECT_EQ(scheme_root->scheme, "ext4");
  auto inside = parse_fuse_path("/ext4/home/f");
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->scheme, "ext4");
  EXPECT_EQ(inside->rel.str(), "/home/f");
  EXPECT_EQ(parse_fuse_path("/ext4/../etc").code(), EINVAL);
  EXPECT_EQ(parse_fuse_path("relative").code(), EINVAL);
  EXPECT_EQ(parse_fuse_path("/" + std::string(300, 'a')).code(), ENAMETOOLONG);
}

TEST(MountInfoTest, ParsesAnEscapedLine) {
  auto entry = fuse_impl::parse_mountinfo_line(
      "36 35 0:52 / /tmp/a\\040b rw,relatime shared:1 - fuse.scheme redox-bridge rw,user_id=0");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->mount_point, "/tmp/a b");
  EXPECT_EQ(entry->fstype, "fuse.scheme");
  EXPECT_EQ(entry->source, "redox-bridge");
  EXPECT_EQ(entry->device, (fuse_impl::MountDevice{0, 52}));
  EXPECT_FALSE(fuse_impl::parse_mountinfo_line("garbage"));
}

}  // namespace
}  // namespace bridge::host
