// The two spellings of a scheme path that bridgectl accepts:
//   legacy Redox form   ext4:/home/file   (also ext4:home/file)
//   namespace form      /scheme/ext4/home/file
#pragma once

#include <string>
#include <string_view>

#include "common/name_component.h"
#include "common/result.h"

namespace bridge::ctl {

struct SchemePath {
  std::string scheme;
  RelPath path;
  std::string str() const { return scheme + ":" + path.str(); }
};

Result<SchemePath> parse_scheme_path(std::string_view text);

}  // namespace bridge::ctl
