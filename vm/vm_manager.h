// VmManager: QEMU lifecycle for named VMs, each with a state directory ROOT/NAME/ holding
//   spec         the VmSpec's text form (what was started)
//   pid          QEMU's pid (QEMU's -pidfile)
//   qmp.sock     QMP, the only control channel
//   console.log  the guest's serial console
//   qemu.log     QEMU's own stdout and stderr
//   region       the shared region's backing file, when the spec asks for one
//   *.log.prev   the logs of the previous, dead instance (kept by run())
// The state directory is the only record: bridgectl (which exits after `vm run`) and bridge-host
// (which supervises its VMs) use the same layout and see each other's VMs.
//
// Every wait is bounded by the Options' timeouts; a QEMU that ignores QMP `quit` is killed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "vm/qemu_command.h"
#include "vm/qmp_client.h"
#include "vm/vm_spec.h"

namespace bridge::vm {

inline constexpr const char* kDefaultStateRoot = "/run/redox-bridge/vms";

struct ManagerOptions {
  std::string root = kDefaultStateRoot;
  std::string qemu_binary = kQemuBinary;
  std::chrono::milliseconds start_timeout{15000};  // spawn until QMP answers
  std::chrono::milliseconds stop_timeout{10000};   // QMP quit until exit; then SIGKILL
  std::chrono::milliseconds qmp_timeout{3000};     // one QMP command
};

struct VmInfo {
  std::string name;
  pid_t pid = 0;       // 0: unknown (no pid file)
  std::string status;  // QMP's status ("running", "paused", ...), "dead" or "unresponsive"
  std::optional<VmSpec> spec;
};

class VmManager {
 public:
  explicit VmManager(ManagerOptions options = {});

  // Starts QEMU for `spec` detached (own session, stdio to qemu.log) and returns once QMP
  // answers. Refuses (EEXIST) a VM of that name that is running; a dead one's state is
  // removed first, keeping its logs as console.log.prev and qemu.log.prev. The QEMU process is a
  // child of the caller until the caller exits.
  Result<pid_t> run(const VmSpec& spec);
  // Every VM with a state directory, sorted by name.
  Result<std::vector<VmInfo>> list() const;
  Result<VmInfo> info(std::string_view name) const;
  // QMP quit, wait for exit (SIGKILL after stop_timeout), remove the state directory. A dead
  // VM's state is just removed. ENOENT when there is no such VM.
  Status stop(std::string_view name);
  Status pause(std::string_view name);   // QMP stop
  Status resume(std::string_view name);  // QMP cont
  // A QMP connection to a running VM (screendump and friends).
  Result<QmpClient> qmp(std::string_view name) const;

  StatePaths paths(std::string_view name) const;
  const ManagerOptions& options() const { return options_; }

 private:
  // The pid of `name`'s QEMU if it is alive (and really that VM's QEMU), else nullopt.
  std::optional<pid_t> live_pid(const StatePaths& paths) const;
  Result<pid_t> spawn(const VmSpec& spec, const StatePaths& paths);
  Status wait_for_qmp(pid_t pid, const StatePaths& paths);
  Status remove_state(const StatePaths& paths) const;
  Status clear_stale_state(const StatePaths& paths) const;

  ManagerOptions options_;
};

// True once `pid` has exited (reaped if it is our child), polling until `timeout`.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace bridge::vm
