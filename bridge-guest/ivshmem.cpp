#include "bridge-guest/ivshmem.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;

// sysfs ids read as "0x1af4\n".
bool has_id(const fs::path& file, const std::string& id) {
  std::ifstream in(file);
  std::string text;
  return static_cast<bool>(in >> text) && text == id;
}

bool is_ivshmem_plain(const fs::path& device) {
  return has_id(device / "vendor", "0x1af4") && has_id(device / "device", "0x1110");
}

// Memory decoding must be on before the BAR can be read; the kernel has no ivshmem driver to do
// it. Writing "1" to `enable` is idempotent.
Status enable(const fs::path& device) {
  std::ofstream out(device / "enable");
  out << "1";
  out.flush();
  if (!out) return make_error(EIO, "cannot enable PCI device " + device.string());
  return {};
}

}  // namespace

Result<std::optional<SharedRegion>> map_ivshmem(const std::string& pci_devices) {
  std::error_code ec;
  std::vector<fs::path> devices;
  for (const auto& entry : fs::directory_iterator(pci_devices, ec)) devices.push_back(entry.path());
  std::sort(devices.begin(), devices.end());
  for (const auto& device : devices) {
    if (!is_ivshmem_plain(device)) continue;
    if (auto st = enable(device); !st) return st.error();
    auto mapped = SharedRegion::map_file((device / "resource2").string());
    if (!mapped) return mapped.error();
    return std::optional<SharedRegion>(std::move(*mapped));
  }
  return std::optional<SharedRegion>();
}

}  // namespace bridge::guest
