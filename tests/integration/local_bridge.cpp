#include "tests/integration/local_bridge.h"

#include <signal.h>
#include <stdlib.h>

#include <stdexcept>

namespace bridge::test {

std::string binary(const std::string& relative) {
  return std::string(BRIDGE_BINARY_DIR) + "/" + relative;
}

std::string sha256_of(const std::string& path) {
  auto r = run_command("sha256sum '" + path + "'");
  return r.status == 0 ? r.output.substr(0, 64) : "sha256sum failed: " + r.output;
}

LocalBridge::LocalBridge(ExportKind kind) : kind_(std::move(kind)) {
  char tmpl[] = "/tmp/bridge-it-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

LocalBridge::~LocalBridge() {
  stop_all();
  // A test that failed half-way may leave the mount behind; never leave it for the next one.
  run_command("umount -l '" + mount() + "' 2>/dev/null");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void LocalBridge::make_image(const std::filesystem::path& tree, int size_mib) {
  const std::string size = std::to_string(size_mib) + "M";
  auto r = kind_.fstype == "btrfs"
               ? run_command("truncate -s " + size + " '" + image() + "' && mkfs.btrfs -q -r '" +
                             tree.string() + "' '" + image() + "'")
               : run_command("mke2fs -q -t ext4 -d '" + tree.string() + "' -F '" + image() + "' " +
                             size);
  if (r.status != 0) throw std::runtime_error("making the image failed: " + r.output);
}

CommandResult LocalBridge::check_image() const {
  if (kind_.fstype == "btrfs") return run_command("btrfs check --readonly '" + image() + "'");
  return run_command("e2fsck -fn '" + image() + "'");
}

void LocalBridge::start_host(std::vector<std::string> extra) {
  std::vector<std::string> argv = {binary("bridge-host/bridge-host"),
                                   "--listen",
                                   "unix:" + guest_socket(),
                                   "--control",
                                   control_socket(),
                                   "--mount",
                                   mount(),
                                   "--log-level",
                                   "debug"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  host_ = std::make_unique<ChildProcess>(argv, host_log());
  wait_until(
      [&] {
        std::error_code ec;
        return std::filesystem::exists(control_socket(), ec);
      },
      std::chrono::seconds(10));
}

void LocalBridge::start_guest(std::vector<std::string> extra) {
  std::vector<std::string> argv = {binary("bridge-guest/bridge-guest"),
                                   "--connect",
                                   "unix:" + guest_socket(),
                                   "--name",
                                   "testvm",
                                   "--export",
                                   kind_.scheme + "=" + kind_.engine + ":" + image(),
                                   "--log-level",
                                   "debug"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  guest_ = std::make_unique<ChildProcess>(argv, guest_log());
}

void LocalBridge::kill_guest() {
  if (!guest_) return;
  guest_->signal(SIGKILL);
  guest_->wait_for(std::chrono::seconds(10));
  guest_.reset();
}

void LocalBridge::stop_host() {
  if (host_) host_->stop();
  host_.reset();
}

bool LocalBridge::wait_for(const std::string& relative, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        std::error_code ec;  // EIO while the guest is away: not there yet
        return std::filesystem::exists(at(relative), ec);
      },
      timeout);
}

CommandResult LocalBridge::bridgectl(const std::string& args) {
  return run_command(binary("tools/bridgectl/bridgectl") + " --control '" + control_socket() +
                     "' " + args);
}

}  // namespace bridge::test
