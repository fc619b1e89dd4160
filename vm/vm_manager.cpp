#include "vm/vm_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"

namespace bridge::vm {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Error sys_error(const std::string& what) {
  int err = errno;
  return make_error(err, what + ": " + std::strerror(err));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last `lines` lines of a log, for error messages that must say why QEMU failed.
std::string log_tail(const std::string& path, int lines = 5) {
  std::string text = read_file(path);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::size_t pos = text.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i)
    pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

// Reaps `pid` if it is our child and has exited. True when it is gone (or never was ours and
// no longer exists).
bool exited(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) return true;
  if (r == 0) return false;     // our child, still running
  return !process_exists(pid);  // ECHILD: not our child; init reaps it
}

}  // namespace

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (exited(pid)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

VmManager::VmManager(ManagerOptions options) : options_(std::move(options)) {}

StatePaths VmManager::paths(std::string_view name) const {
  return StatePaths(options_.root + "/" + std::string(name));
}

std::optional<pid_t> VmManager::live_pid(const StatePaths& paths) const {
  std::string text = read_file(paths.pid());
  char* end = nullptr;
  long pid = std::strtol(text.c_str(), &end, 10);
  if (pid <= 1 || end == text.c_str() || pid > INT32_MAX) return std::nullopt;
  if (exited(static_cast<pid_t>(pid))) return std::nullopt;
  // Pids are reused: only a process whose command line names this VM's QMP socket counts.
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (cmdline.find(paths.qmp()) == std::string::npos) return std::nullopt;
  return static_cast<pid_t>(pid);
}

Status VmManager::remove_state(const StatePaths& paths) const {
  std::error_code ec;
  fs::remove_all(paths.dir, ec);
  if (ec) return make_error(ec.value(), "removing " + paths.dir + ": " + ec.message());
  return {};
}

// A dead VM's leftovers go, except its logs, which become *.prev: they say why it died.
Status VmManager::clear_stale_state(const StatePaths& p) const {
  std::error_code ec;
  fs::create_directories(p.dir, ec);
  if (ec) return make_error(ec.value(), "creating " + p.dir + ": " + ec.message());
  fs::permissions(p.dir, fs::perms::owner_all, ec);
  for (const std::string& log : {p.console(), p.qemu_log()}) {
    if (fs::exists(log, ec)) fs::rename(log, log + ".prev", ec);
    if (ec) return make_error(ec.value(), "keeping " + log + ": " + ec.message());
  }
  for (const std::string& file : {p.spec(), p.pid(), p.qmp(), p.region()}) {
    fs::remove(file, ec);
    if (ec) return make_error(ec.value(), "removing stale " + file + ": " + ec.message());
  }
  return {};
}

Result<pid_t> VmManager::run(const VmSpec& spec) {
  if (auto st = validate(spec); !st) return st.error();
  const StatePaths p = paths(spec.name);
  if (auto pid = live_pid(p)) {
    return make_error(EEXIST, "VM '" + spec.name + "' is already running (pid " +
                                  std::to_string(*pid) + "); stop it first (bridgectl vm stop " +
                                  spec.name + ")");
  }
  if (auto st = clear_stale_state(p); !st) return st.error();
  {
    std::ofstream out(p.spec());
    out << to_spec_line(spec) << '\n';
    if (!out.flush()) return make_error(EIO, "writing " + p.spec());
  }
  auto pid = spawn(spec, p);
  if (!pid) return pid;
  if (auto st = wait_for_qmp(*pid, p); !st) {
    // Never leave a half-started QEMU behind.
    ::kill(*pid, SIGKILL);
    wait_for_exit(*pid, 2s);
    return st.error();
  }
  return pid;
}

Result<pid_t> VmManager::spawn(const VmSpec& spec, const StatePaths& p) {
  UniqueFd log(::open(p.qemu_log().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log) return sys_error("creating " + p.qemu_log());

  std::vector<std::string> argv = qemu_argv(spec, p, options_.qemu_binary);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  // posix_spawn, not fork: bridge-host is multi-threaded (FUSE). The child gets a session of
  // its own (a terminal's Ctrl-C or a dying parent's group does not reach it), /dev/null as
  // stdin, qemu.log as stdout and stderr, default signal handling, and no other descriptors.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, log.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int err = ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return make_error(err, "starting " + options_.qemu_binary + ": " + std::strerror(err) +
                               (err == ENOENT ? " (apt-get install qemu-system-x86)" : ""));
  }
  // QEMU writes the same pid with -pidfile, but only once it is up: record it now so a QEMU
  // that hangs early can still be found and stopped.
  std::ofstream(p.pid()) << pid << '\n';
  return pid;
}

Status VmManager::wait_for_qmp(pid_t pid, const StatePaths& p) {
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  Error last = make_error(ETIMEDOUT, "no QMP socket yet");
  for (;;) {
    if (exited(pid)) {
      return make_error(ECHILD, "QEMU exited while starting; " + p.qemu_log() +
                                    " says: " + log_tail(p.qemu_log()));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) break;
    if (::access(p.qmp().c_str(), F_OK) == 0) {
      // The greeting only comes once QEMU's main loop runs, after the vhost-user handshake.
      auto client = QmpClient::connect(p.qmp(), std::min(left, options_.qmp_timeout));
      if (client) return {};
      last = client.error();
    }
    std::this_thread::sleep_for(50ms);
  }
  return make_error(ETIMEDOUT, "QEMU did not answer on " + p.qmp() + " within " +
                                   std::to_string(options_.start_timeout.count()) + " ms (" +
                                   last.context + "); " + p.qemu_log() +
                                   " says: " + log_tail(p.qemu_log()));
}

Result<VmInfo> VmManager::info(std::string_view name) const {
  if (auto st = validate_name(name); !st) return st.error();
  const StatePaths p = paths(name);
  struct stat st {};
  if (::stat(p.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(ENOENT, "no VM named '" + std::string(name) + "' under " + options_.root +
                                  " (see bridgectl vm list)");
  VmInfo info;
  info.name = name;
  std::string spec_text = read_file(p.spec());
  if (auto spec = parse_spec_line(spec_text.substr(0, spec_text.find('\n'))))
    info.spec = std::move(spec).value();
  auto pid = live_pid(p);
  if (!pid) {
    info.status = "dead";
    return info;
  }
  info.pid = *pid;
  auto client = QmpClient::connect(p.qmp(), options_.qmp_timeout);
  auto status = client ? client->query_status() : Result<std::string>(client.error());
  info.status = status ? *status : "unresponsive";
  return info;
}

Result<std::vector<VmInfo>> VmManager::list() const {
  std::vector<VmInfo> out;
  std::error_code ec;
  fs::directory_iterator it(options_.root, ec);
  if (ec == std::errc::no_such_file_or_directory) return out;  // nothing ever ran
  if (ec) return make_error(ec.value(), "reading " + options_.root + ": " + ec.message());
  for (const auto& entry : it) {
    std::string name = entry.path().filename();
    if (!entry.is_directory() || !validate_name(name)) continue;
    auto vm = info(name);
    if (vm) out.push_back(std::move(vm).value());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<QmpClient> VmManager::qmp(std::string_view name) const {
  auto vm = info(name);
  if (!vm) return vm.error();
  if (vm->pid == 0)
    return make_error(ESRCH, "VM '" + std::string(name) + "' is not running (its QEMU is gone)");
  auto client = QmpClient::connect(paths(name).qmp(), options_.qmp_timeout);
  if (client) client->set_timeout(options_.qmp_timeout);
  return client;
}

Status VmManager::stop(std::string_view name) {
  auto vm = info(name);
  if (!vm) return vm.error();
  const StatePaths p = paths(name);
  if (vm->pid != 0) {
    auto client = QmpClient::connect(p.qmp(), options_.qmp_timeout);
    if (client) (void)client->quit();  // failure or not, the wait below decides
    if (!wait_for_exit(vm->pid, options_.stop_timeout)) {
      ::kill(vm->pid, SIGKILL);
      if (!wait_for_exit(vm->pid, 5s))
        return make_error(EBUSY, "QEMU (pid " + std::to_string(vm->pid) + ") of VM '" +
                                     std::string(name) + "' survived SIGKILL");
    }
  }
  return remove_state(p);
}

Status VmManager::pause(std::string_view name) {
  auto client = qmp(name);
  if (!client) return client.error();
  return client->stop();
}

Status VmManager::resume(std::string_view name) {
  auto client = qmp(name);
  if (!client) return client.error();
  return client->cont();
}

}  // namespace bridge::vm
