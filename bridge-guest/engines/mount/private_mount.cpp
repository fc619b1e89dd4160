#include "bridge-guest/engines/mount/private_mount.h"

#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "bridge-guest/engines/mount/sys_error.h"
#include "common/unique_fd.h"

extern char** environ;

namespace bridge::guest::mnt {

namespace {

constexpr std::size_t kMaxMessage = 4096;  // of mount's output kept for the error

Status make_dir(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return last_error("mkdir", dir);
  return {};
}

Result<std::string> make_mount_point() {
  if (auto st = make_dir("/run/redox-bridge", 0755); !st) return st.error();
  if (auto st = make_dir(kMountBase, 0700); !st) return st.error();
  std::string templ = std::string(kMountBase) + "/XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return last_error("mkdtemp", templ);
  return templ;
}

std::string read_all(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < kMaxMessage) out.append(buf, static_cast<std::size_t>(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

struct SpawnOutcome {
  int status = -1;  // exit status, -1 when it did not exit normally
  std::string output;
};

// Runs argv[0] (found on PATH) without a shell, its stdout and stderr collected.
Result<SpawnOutcome> spawn(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return last_error("pipe2");
  UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears O_CLOEXEC on the copies, so only these two reach the child.
  posix_spawn_file_actions_adddup2(&actions, wr.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), STDERR_FILENO);
  std::vector<char*> argv;
  // INVARIANT: posix_spawnp takes char* const[] but does not write through it; the strings
  // live in args until the call returns.
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return sys_error(rc, "spawn", args[0]);
  wr.reset();
  SpawnOutcome out;
  out.output = read_all(rd.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return last_error("waitpid", args[0]);
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

Status run_mount(const std::string& source, const std::string& target, bool read_only) {
  std::string options = std::string(read_only ? "ro" : "rw") + ",nodev,nosuid";
  auto outcome = spawn({"mount", "-o", options, source, target});
  if (!outcome)
    return make_error(outcome.code(), "mount engine: cannot run mount for " + source + ": " +
                                          outcome.error().context + ": install util-linux");
  if (outcome->status == 0) return {};
  return make_error(EINVAL, "mount engine: cannot mount " + source + " on " + target +
                                " (mount exited " + std::to_string(outcome->status) + ": " +
                                outcome->output +
                                "): check that it holds a filesystem this kernel supports");
}

}  // namespace

Result<std::unique_ptr<PrivateMount>> PrivateMount::mount(const std::string& source,
                                                          bool read_only) {
  auto target = make_mount_point();
  if (!target)
    return make_error(target.code(),
                      "mount engine: no mount point for " + source + ": " + target.error().context);
  if (auto st = run_mount(source, *target, read_only); !st) {
    ::rmdir(target->c_str());
    return st.error();
  }
  return std::unique_ptr<PrivateMount>(new PrivateMount(source, *target));
}

PrivateMount::~PrivateMount() {
  // The engine has closed every fd below target_ (and synced) before this runs. Should an
  // OpenFile outlive its engine anyway, detach lazily rather than leave the mount behind.
  if (::umount2(target_.c_str(), UMOUNT_NOFOLLOW) != 0) {
    int first = errno;
    spdlog::warn("mount engine: unmounting {} ({}): {}; detaching lazily", target_, source_,
                 sys_error(first, "umount").context);
    if (::umount2(target_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
      spdlog::error("mount engine: cannot unmount {}: {}", target_, last_error("umount").context);
  }
  if (::rmdir(target_.c_str()) != 0)
    spdlog::warn("mount engine: cannot remove {}: {}", target_, last_error("rmdir").context);
}

}  // namespace bridge::guest::mnt
