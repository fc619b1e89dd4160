#include "vm/qemu_command.h"

namespace bridge::vm {

std::string qemu_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

namespace {

void add(std::vector<std::string>& argv, std::initializer_list<std::string> args) {
  argv.insert(argv.end(), args);
}

void add_display(std::vector<std::string>& argv, Display display) {
  switch (display) {
    case Display::kNone:
      return;
    case Display::kBochs:
      return add(argv, {"-device", "bochs-display"});
    case Display::kVirtioGpu:
      return add(argv, {"-device", "virtio-gpu-pci"});
  }
}

}  // namespace

std::vector<std::string> qemu_argv(const VmSpec& spec, const StatePaths& paths,
                                   const std::string& binary) {
  const std::string mem = std::to_string(spec.mem_mib) + "M";
  std::vector<std::string> argv{binary};
  add(argv, {"-name", spec.name, "-accel", "tcg", "-m", mem, "-smp", std::to_string(spec.cpus)});
  // -nographic with -nodefaults: no window and nothing on stdio (no default serial/monitor).
  add(argv, {"-nodefaults", "-nographic", "-no-reboot"});
  // vhost-user needs guest RAM the back-end can map: a shared memfd as the only NUMA node.
  add(argv, {"-object", "memory-backend-memfd,id=mem,size=" + mem + ",share=on", "-numa",
             "node,memdev=mem"});
  add(argv, {"-chardev", "socket,id=vu,path=" + qemu_escape(spec.vsock_socket), "-device",
             "vhost-user-vsock-pci,chardev=vu"});
  add(argv, {"-serial", "file:" + qemu_escape(paths.console())});
  add(argv, {"-qmp", "unix:" + qemu_escape(paths.qmp()) + ",server=on,wait=off"});
  add(argv, {"-pidfile", paths.pid()});
  add(argv, {"-kernel", spec.kernel});
  if (!spec.initrd.empty()) add(argv, {"-initrd", spec.initrd});
  if (!spec.append.empty()) add(argv, {"-append", spec.append});
  for (const auto& disk : spec.disks)
    add(argv, {"-drive", "file=" + qemu_escape(disk) + ",if=virtio,format=raw"});
  add_display(argv, spec.display);
  if (spec.region_mib != 0) {
    add(argv, {"-object",
               "memory-backend-file,id=region,mem-path=" +
                   qemu_escape(spec.region_file.empty() ? paths.region() : spec.region_file) +
                   ",size=" + std::to_string(spec.region_mib) + "M,share=on",
               "-device", "ivshmem-plain,memdev=region"});
  }
  return argv;
}

}  // namespace bridge::vm
