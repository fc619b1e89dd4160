// bridgectl vm run|list|stop|pause|resume: QEMU lifecycle through vm::VmManager. These work on
// the VMs' state directories and QMP sockets directly; bridge-host's control socket is not
// involved.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>

#include "common/cli.h"
#include "tools/bridgectl/commands.h"
#include "vm/vm_manager.h"

namespace bridge::ctl {

namespace {

constexpr const char* kProgram = "bridgectl vm";
constexpr const char* kVmUsage = R"(Usage: bridgectl vm COMMAND ...

  run --name NAME --kernel FILE [--initrd FILE] [--disk FILE]... [--mem MIB]
      [--cpus N] [--append ARGS] [--vsock PATH] [--display none|bochs|virtio-gpu]
      [--region MIB [--region-file FILE]] [--state-dir DIR]
        start a VM under QEMU (TCG) in the background and return once QMP answers.
        Disks are raw virtio-blk (vda, vdb, ... in order); mem defaults to 512 MiB,
        cpus to 1; --vsock is bridge-host's vhost-user socket (default
        /run/redox-bridge/vsock.sock, which bridge-host must be listening on);
        --region adds an ivshmem shared region of that many MiB (a power of two),
        backed by FILE: give the file bridge-host's vhost-user:...,region=FILE made
        (default: a file in the VM's state directory, which bridge-host does not know).
  list [--state-dir DIR]            NAME, PID and STATUS (running, paused, dead, ...)
  stop NAME [--state-dir DIR]       QMP quit, SIGKILL after 10 s, remove its state
  pause NAME [--state-dir DIR]      freeze the guest's CPUs (QMP stop)
  resume NAME [--state-dir DIR]     let it run again (QMP cont)
  screendump NAME FILE [--device ID] [--state-dir DIR]
                                    save what the VM's display shows as a PPM image
                                    (QMP screendump; --device picks a display device)

--state-dir DIR holds one directory per VM (default /run/redox-bridge/vms): spec, pid,
qmp.sock, console.log (the guest's serial console) and qemu.log.
)";

int run_vm(const Args& args) {
  vm::VmSpec spec;
  vm::ManagerOptions options;
  ArgReader in(args);
  // Flags map one to one onto the spec's text-form keys.
  constexpr std::pair<std::string_view, std::string_view> kKeys[] = {
      {"--kernel", "kernel"}, {"--initrd", "initrd"},
      {"--disk", "disk"},     {"--mem", "mem"},
      {"--cpus", "cpus"},     {"--append", "append"},
      {"--vsock", "vsock"},   {"--display", "display"},
      {"--region", "region"}, {"--region-file", "region-file"}};
  while (!in.done()) {
    if (in.flag("--help")) return std::fputs(kVmUsage, stdout), 0;
    bool matched = false;
    if (auto v = in.option("--name")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      spec.name = **v;
      matched = true;
    } else if (auto d = in.option("--state-dir")) {
      if (!*d) return fail_usage(kProgram, d->error().context);
      options.root = **d;
      matched = true;
    }
    for (const auto& [flag, key] : kKeys) {
      if (matched) break;
      auto v = in.option(flag);
      if (!v) continue;
      if (!*v) return fail_usage(kProgram, v->error().context);
      if (auto st = vm::set_option(spec, key, **v); !st)
        return fail_usage(kProgram, std::string(flag) + ": " + st.error().context);
      matched = true;
    }
    if (!matched)
      return fail_usage(kProgram, "run: unknown argument '" + std::string(in.next()) + "'");
  }
  if (spec.name.empty()) return fail_usage(kProgram, "run needs --name NAME");
  if (spec.kernel.empty()) return fail_usage(kProgram, "run needs --kernel FILE");
  // A bad value is a usage error (2); a missing kernel or disk an unusable input (1).
  if (auto st = vm::validate(spec); !st)
    return st.code() == EINVAL ? fail_usage(kProgram, st.error().context)
                               : fail(kProgram, st.error());
  vm::VmManager manager(options);
  auto pid = manager.run(spec);
  if (!pid) return fail(kProgram, pid.error());
  std::printf("%s: running, pid %d, state in %s\n", spec.name.c_str(), static_cast<int>(*pid),
              manager.paths(spec.name).dir.c_str());
  return 0;
}

// The NAME and --state-dir of list/stop/pause/resume. Returns an exit status on error.
std::optional<int> parse_target(const Args& args, bool want_name, std::string& name,
                                vm::ManagerOptions& options) {
  ArgReader in(args);
  while (!in.done()) {
    if (in.flag("--help")) return std::fputs(kVmUsage, stdout), 0;
    if (auto d = in.option("--state-dir")) {
      if (!*d) return fail_usage(kProgram, d->error().context);
      options.root = **d;
    } else if (want_name && name.empty() && !in.peek().starts_with("-")) {
      name = in.next();
    } else {
      return fail_usage(kProgram, "unexpected argument '" + std::string(in.next()) + "'");
    }
  }
  if (want_name && name.empty()) return fail_usage(kProgram, "which VM? give its NAME");
  return std::nullopt;
}

int list_vms(const Args& args) {
  std::string unused;
  vm::ManagerOptions options;
  if (auto rc = parse_target(args, false, unused, options)) return *rc;
  auto vms = vm::VmManager(options).list();
  if (!vms) return fail(kProgram, vms.error());
  std::printf("%-20s %-8s %s\n", "NAME", "PID", "STATUS");
  for (const auto& vm : *vms) {
    std::string pid = vm.pid ? std::to_string(vm.pid) : "-";
    std::printf("%-20s %-8s %s\n", vm.name.c_str(), pid.c_str(), vm.status.c_str());
  }
  return 0;
}

// stop, pause and resume: one VM by name, one VmManager call.
int on_vm(const Args& args, std::string_view done,
          Status (vm::VmManager::*action)(std::string_view)) {
  std::string name;
  vm::ManagerOptions options;
  if (auto rc = parse_target(args, true, name, options)) return *rc;
  if (auto st = vm::validate_name(name); !st) return fail_usage(kProgram, st.error().context);
  vm::VmManager manager(options);
  if (auto st = (manager.*action)(name); !st) return fail(kProgram, st.error());
  std::printf("%s: %.*s\n", name.c_str(), static_cast<int>(done.size()), done.data());
  return 0;
}

// QEMU writes the file itself, so FILE is made absolute: QEMU's working directory is not ours.
int screendump_vm(const Args& args) {
  std::string name, file, device;
  vm::ManagerOptions options;
  ArgReader in(args);
  while (!in.done()) {
    if (in.flag("--help")) return std::fputs(kVmUsage, stdout), 0;
    if (auto d = in.option("--state-dir")) {
      if (!*d) return fail_usage(kProgram, d->error().context);
      options.root = **d;
    } else if (auto dev = in.option("--device")) {
      if (!*dev) return fail_usage(kProgram, dev->error().context);
      device = **dev;
    } else if (name.empty() || file.empty()) {
      (name.empty() ? name : file) = in.next();
    } else {
      return fail_usage(kProgram, "unexpected argument '" + std::string(in.next()) + "'");
    }
  }
  if (name.empty() || file.empty()) return fail_usage(kProgram, "screendump needs NAME and FILE");
  if (auto st = vm::validate_name(name); !st) return fail_usage(kProgram, st.error().context);
  std::error_code ec;
  auto path = std::filesystem::absolute(file, ec);
  if (ec) return fail_usage(kProgram, "cannot resolve " + file + ": " + ec.message());
  auto qmp = vm::VmManager(options).qmp(name);
  if (!qmp) return fail(kProgram, qmp.error());
  if (auto st = qmp->screendump(path.string(), device); !st) return fail(kProgram, st.error());
  std::printf("%s: screen saved to %s\n", name.c_str(), path.c_str());
  return 0;
}

}  // namespace

int cmd_vm(const Context&, const Args& args) {
  if (args.empty()) return fail_usage(kProgram, "which command? run, list, stop, pause or resume");
  const std::string& sub = args[0];
  Args rest(args.begin() + 1, args.end());
  if (sub == "--help" || sub == "help") return std::fputs(kVmUsage, stdout), 0;
  if (sub == "run") return run_vm(rest);
  if (sub == "list") return list_vms(rest);
  if (sub == "stop") return on_vm(rest, "stopped", &vm::VmManager::stop);
  if (sub == "pause") return on_vm(rest, "paused", &vm::VmManager::pause);
  if (sub == "resume") return on_vm(rest, "running", &vm::VmManager::resume);
  if (sub == "screendump") return screendump_vm(rest);
  return fail_usage(kProgram,
                    "unknown command '" + sub + "' (run, list, stop, pause, resume, screendump)");
}

}  // namespace bridge::ctl
