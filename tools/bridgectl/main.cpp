// bridgectl: the command-line client of bridge-host's control socket, and of the VMs' QEMUs.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/cli.h"
#include "tools/bridgectl/commands.h"

namespace {

constexpr const char* kUsage = R"(Usage: bridgectl [--control PATH] COMMAND ARGS...

Paths are SCHEME:/PATH (Redox legacy form, e.g. ext4:/home/file) or
/scheme/SCHEME/PATH (e.g. /scheme/ext4/home/file).

Commands:
  cat PATH...            write files to standard output
  ls [-l] PATH           list a directory
  stat PATH              show attributes (symlinks are not followed)
  put [LOCAL|-] PATH     write a file from LOCAL or standard input (created 0644)
  rm PATH...             remove files and empty directories
  mkdir [-p] PATH...     make directories (0755)
  status                 list schemes, their guests and state
  subvol list SCHEME:/                 btrfs subvolumes of a scheme
  subvol create PATH                   make a subvolume
  subvol snapshot [-r] SOURCE DEST     snapshot a subvolume (-r: read-only)
  subvol delete PATH                   delete a subvolume
  subvol get-default SCHEME:/ | set-default PATH
  subvol readonly PATH [on|off]        show or set a subvolume's read-only flag
  vm run --name NAME --kernel FILE [--initrd FILE] [--disk FILE]... [--mem MIB]
         [--cpus N] [--append ARGS] [--vsock PATH] [--display none|bochs|virtio-gpu]
         [--region MIB] [--state-dir DIR]      start a VM under QEMU in the background
  vm list | stop NAME | pause NAME | resume NAME   [--state-dir DIR]
  vm screendump NAME FILE [--device ID]           the VM's screen as a PPM (QMP)
                         (vm commands need no control socket; bridgectl vm --help)
  display list | info SCHEME [--display-dir DIR]  display.<driver> schemes, their
                         connectors and modes (asked on the display sockets)

Options:
  --control PATH         bridge-host's control socket (default /run/redox-bridge/control.sock)
  --help, --version
)";

struct Command {
  std::string_view name;
  int (*run)(const bridge::ctl::Context&, const bridge::ctl::Args&);
};

constexpr Command kCommands[] = {
    {"cat", bridge::ctl::cmd_cat},       {"ls", bridge::ctl::cmd_ls},
    {"stat", bridge::ctl::cmd_stat},     {"put", bridge::ctl::cmd_put},
    {"rm", bridge::ctl::cmd_rm},         {"mkdir", bridge::ctl::cmd_mkdir},
    {"status", bridge::ctl::cmd_status}, {"subvol", bridge::ctl::cmd_subvol},
    {"vm", bridge::ctl::cmd_vm},         {"display", bridge::ctl::cmd_display},
};

}  // namespace

int main(int argc, char** argv) {
  using namespace bridge;
  ctl::Context ctx{"/run/redox-bridge/control.sock"};
  ArgReader args(argc, argv);
  while (!args.done() && args.peek().starts_with("--")) {
    if (args.flag("--help")) return std::fputs(kUsage, stdout), 0;
    if (args.flag("--version")) return std::puts("bridgectl 0.1.0 (protocol 1.0)"), 0;
    auto v = args.option("--control");
    if (!v) return fail_usage("bridgectl", "unknown option '" + std::string(args.next()) + "'");
    if (!*v) return fail_usage("bridgectl", v->error().context);
    ctx.control_path = **v;
  }
  if (args.done()) return fail_usage("bridgectl", "no command given");
  std::string_view name = args.next();
  for (const auto& command : kCommands) {
    if (command.name == name) return command.run(ctx, args.rest());
  }
  return fail_usage("bridgectl", "unknown command '" + std::string(name) + "'");
}
