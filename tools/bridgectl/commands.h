// bridgectl's commands. Each takes its arguments (after the command word) and returns an exit
// status, printing results to stdout and one clear line per error to stderr.
#pragma once

#include <string>
#include <vector>

namespace bridge::ctl {

struct Context {
  std::string control_path;
};

using Args = std::vector<std::string>;

int cmd_cat(const Context& ctx, const Args& args);
int cmd_ls(const Context& ctx, const Args& args);
int cmd_stat(const Context& ctx, const Args& args);
int cmd_put(const Context& ctx, const Args& args);
int cmd_rm(const Context& ctx, const Args& args);
int cmd_mkdir(const Context& ctx, const Args& args);
int cmd_status(const Context& ctx, const Args& args);
int cmd_subvol(const Context& ctx, const Args& args);
// vm run|list|stop|pause|resume (tools/bridgectl/vm_commands.cpp); needs no control socket.
int cmd_vm(const Context& ctx, const Args& args);
// display list|info: display.<driver> schemes, through their display sockets.
int cmd_display(const Context& ctx, const Args& args);

}  // namespace bridge::ctl
