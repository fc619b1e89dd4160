#include "bridge-host/vm_supervisor.h"

#include <spdlog/spdlog.h>

namespace bridge::host {

using namespace std::chrono_literals;

namespace {
constexpr std::chrono::seconds kFirstBackoff{1};
constexpr std::chrono::seconds kMaxBackoff{30};
constexpr std::chrono::seconds kHealthyUptime{60};
}  // namespace

VmSupervisor::VmSupervisor(vm::ManagerOptions options, vm::VmSpec spec)
    : manager_(std::move(options)), spec_(std::move(spec)) {}

void VmSupervisor::start() {
  thread_ = std::jthread([this](std::stop_token stop) { supervise(stop); });
}

void VmSupervisor::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

bool VmSupervisor::pause_for(std::stop_token stop, std::chrono::seconds delay) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, stop, delay, [] { return false; }) && !stop.stop_requested();
}

void VmSupervisor::supervise(std::stop_token stop) {
  const std::string& name = spec_.name;
  const std::string dir = manager_.paths(name).dir;
  auto backoff = kFirstBackoff;
  while (!stop.stop_requested()) {
    auto pid = manager_.run(spec_);
    if (!pid) {
      spdlog::error("VM {}: {}; trying again in {} s", name, pid.error().context, backoff.count());
      if (!pause_for(stop, backoff)) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    spdlog::info("VM {}: QEMU running (pid {}); console and logs in {}", name, *pid, dir);
    auto started = std::chrono::steady_clock::now();
    while (!stop.stop_requested() && !vm::wait_for_exit(*pid, 200ms)) {
    }
    if (stop.stop_requested()) break;
    if (std::chrono::steady_clock::now() - started > kHealthyUptime) backoff = kFirstBackoff;
    spdlog::warn("VM {}: QEMU (pid {}) exited; see {}/qemu.log and console.log; restarting in {} s",
                 name, *pid, dir, backoff.count());
    if (!pause_for(stop, backoff)) break;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  // Stopping: quit the VM if one is up. Its state directory goes with it.
  if (auto info = manager_.info(name); info && info->pid != 0) {
    spdlog::info("VM {}: stopping QEMU (pid {})", name, info->pid);
    if (auto st = manager_.stop(name); !st) spdlog::error("VM {}: {}", name, st.error().context);
  }
}

}  // namespace bridge::host
