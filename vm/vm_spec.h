// VmSpec: what a filesystem/driver VM is, independent of how it is started. One spec per VM;
// bridgectl builds it from flags, bridge-host from a `vm` line of its config file, and the VM's
// state directory keeps a copy (the "spec" file) so `bridgectl vm list` can say what runs.
//
// Text form (config `vm` lines and the spec file share it):
//   NAME key=value key=value ... [append=REST OF LINE]
// keys: kernel, initrd, disk (repeatable, in order: vda, vdb, ...), mem (MiB), cpus, vsock
// (bridge-host's vhost-user socket), display (none|bochs|virtio-gpu), region (MiB, power of
// two). `append` takes the rest of the line, spaces included, so it comes last.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bridge::vm {

enum class Display { kNone, kBochs, kVirtioGpu };

inline constexpr const char* kDefaultVsockSocket = "/run/redox-bridge/vsock.sock";

struct VmSpec {
  std::string name;
  std::string kernel;
  std::string initrd;              // empty: none
  std::vector<std::string> disks;  // raw images or block devices, virtio-blk in order
  unsigned mem_mib = 512;
  unsigned cpus = 1;
  std::string append;  // extra kernel command line
  std::string vsock_socket = kDefaultVsockSocket;
  Display display = Display::kNone;
  unsigned region_mib = 0;  // 0: no shared region (ivshmem)
  // The region's backing file. Empty: `region` in the VM's state directory. Give bridge-host's
  // `vhost-user:...,region=FILE` here: bridge-host makes that file and writes the token both
  // hellos compare, so QEMU must map that very file (not one the state directory recreates).
  std::string region_file;
};

Result<Display> parse_display(std::string_view text);
std::string_view display_name(Display display);

// A VM name is [A-Za-z0-9][A-Za-z0-9._-]{0,63}: it names a directory and appears in QEMU
// arguments, so nothing that could be a path separator or option syntax.
Status validate_name(std::string_view name);
// Every field, including that kernel, initrd and disks exist (and are not directories).
Status validate(const VmSpec& spec);

// Sets one key of the text form; unknown keys and malformed numbers are EINVAL naming them.
Status set_option(VmSpec& spec, std::string_view key, std::string_view value);
// Parses the text form (not validated: call validate()).
Result<VmSpec> parse_spec_line(std::string_view line);
// The text form of `spec`, one line; parse_spec_line(to_spec_line(s)) == s.
std::string to_spec_line(const VmSpec& spec);

bool operator==(const VmSpec& a, const VmSpec& b);

}  // namespace bridge::vm
