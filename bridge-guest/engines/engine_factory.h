// Opens the engine an export asks for. main() calls this once per --export before connecting,
// so a bad image or missing device fails the start with a clear message.
#pragma once

#include <memory>

#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/export_spec.h"
#include "common/result.h"

namespace bridge::guest {

Result<std::unique_ptr<FsEngine>> open_engine(const ExportSpec& spec);

}  // namespace bridge::guest
