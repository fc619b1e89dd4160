// Logging setup for the daemons and tools: spdlog to stderr (runit's svlogd or the journal
// collects it), one line per event, daemon name in every line.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/result.h"

namespace bridge {

// level: trace|debug|info|warn|error|off. Unknown levels are refused by the caller's parser.
Status setup_logging(std::string_view program, std::string_view level);

}  // namespace bridge
