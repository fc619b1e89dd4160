// The qemu-system-x86_64 command line for a VmSpec: a pure function, so every flag is unit
// tested. The flags are the ones proven with QEMU 7.2 on these machines (tools/run-vm.sh,
// tests/vm/vm_vhost_user.sh):
//   - TCG always (/dev/kvm rejects ordinary guests here);
//   - guest RAM from a shared memory-backend-memfd: the vhost-user-vsock back-end
//     (bridge-host) maps it;
//   - no default devices, no window, no monitor on stdio: the serial console goes to a file and
//     the only control channel is QMP on a unix socket in the VM's state directory.
#pragma once

#include <string>
#include <vector>

#include "vm/vm_spec.h"

namespace bridge::vm {

// Files a VM keeps in its state directory.
struct StatePaths {
  explicit StatePaths(std::string dir) : dir(std::move(dir)) {}
  std::string dir;
  std::string spec() const { return dir + "/spec"; }
  std::string qmp() const { return dir + "/qmp.sock"; }
  std::string pid() const { return dir + "/pid"; }
  std::string console() const { return dir + "/console.log"; }
  std::string qemu_log() const { return dir + "/qemu.log"; }
  std::string region() const { return dir + "/region"; }
};

inline constexpr const char* kQemuBinary = "qemu-system-x86_64";

// QEMU's option parser splits on ','; a literal comma in a value is written ",,".
std::string qemu_escape(std::string_view value);

// argv[0] is `binary`. The process does not daemonize itself: the caller starts it detached
// (new session, stdio to qemu.log) and keeps its pid, which -pidfile also records.
std::vector<std::string> qemu_argv(const VmSpec& spec, const StatePaths& paths,
                                   const std::string& binary = kQemuBinary);

}  // namespace bridge::vm
