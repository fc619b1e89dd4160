// bridgectl display list|info: what bridge-host's display.<driver> schemes offer, asked on their
// display sockets (the same socket apps draw through; `info` never takes ownership).
#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "client/display_client.h"
#include "common/cli.h"
#include "tools/bridgectl/commands.h"

namespace bridge::ctl {
namespace {

constexpr const char* kProgram = "bridgectl display";
constexpr const char* kDisplayUsage = R"(Usage: bridgectl display COMMAND [--display-dir DIR]

  list                  the display schemes bridge-host serves (display.<driver>)
  info SCHEME           driver, connectors, their status and modes (* preferred)

--display-dir DIR is bridge-host's --display-dir (default /run/redox-bridge), where each
display.<driver> scheme has its socket display.<driver>.sock.
)";

constexpr std::string_view kSuffix = ".sock";

// Scheme names under DIR: display.*.sock files, sorted.
Result<std::vector<std::string>> display_schemes(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return make_error(errno, "open display directory " + dir);
  std::vector<std::string> names;
  while (auto* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    if (n.starts_with("display.") && n.ends_with(kSuffix) && n.size() > 8 + kSuffix.size())
      names.emplace_back(n.substr(0, n.size() - kSuffix.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

int print_info(const std::string& dir, const std::string& scheme) {
  auto client = display::Client::connect(dir + "/" + scheme + std::string(kSuffix));
  if (!client) return fail(kProgram, client.error());
  auto info = (*client)->info();
  if (!info) return fail(kProgram, info.error());
  std::printf("%s: driver %s, %zu connector(s)\n", scheme.c_str(), info->driver.c_str(),
              info->connectors.size());
  for (const auto& c : info->connectors) {
    std::printf("  connector %u %s: %s, %zu mode(s)\n", c.id, c.name.c_str(),
                c.connected ? "connected" : "disconnected", c.modes.size());
    for (const auto& m : c.modes)
      std::printf("    %ux%u@%u%s\n", m.width, m.height, m.refresh, m.preferred ? " *" : "");
  }
  return 0;
}

}  // namespace

int cmd_display(const Context&, const Args& args) {
  std::string dir = "/run/redox-bridge", sub, scheme;
  ArgReader in(args);
  while (!in.done()) {
    if (in.flag("--help")) return std::fputs(kDisplayUsage, stdout), 0;
    if (auto d = in.option("--display-dir")) {
      if (!*d) return fail_usage(kProgram, d->error().context);
      dir = **d;
    } else if (sub.empty() || (sub == "info" && scheme.empty())) {
      (sub.empty() ? sub : scheme) = in.next();
    } else {
      return fail_usage(kProgram, "unexpected argument '" + std::string(in.next()) + "'");
    }
  }
  if (sub == "list") {
    auto names = display_schemes(dir);
    if (!names) return fail(kProgram, names.error());
    if (names->empty())
      std::fprintf(stderr, "%s: no display schemes in %s (is a display guest connected?)\n",
                   kProgram, dir.c_str());
    for (const auto& n : *names) std::puts(n.c_str());
    return 0;
  }
  if (sub == "info") {
    if (scheme.empty()) return fail_usage(kProgram, "info needs a SCHEME, e.g. display.bochs");
    if (scheme.starts_with("/scheme/")) scheme = scheme.substr(8);
    if (scheme.ends_with(":")) scheme.pop_back();  // Redox legacy form display.bochs:
    if (!scheme.starts_with("display.") || scheme.find('/') != std::string::npos)
      return fail_usage(kProgram, "'" + scheme + "' is not a display scheme (display.<driver>)");
    return print_info(dir, scheme);
  }
  if (sub.empty()) return fail_usage(kProgram, "which command? list or info");
  return fail_usage(kProgram, "unknown command '" + sub + "' (list, info)");
}

}  // namespace bridge::ctl
