// The shared region inside a VM: QEMU's ivshmem-plain device (PCI vendor 0x1af4, device 0x1110),
// whose BAR2 is the host's region file. bridge-guest maps it through sysfs (root): enable the
// device, then mmap `resource2` (DESIGN.md, "Facts verified").
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "common/shared_region.h"

namespace bridge::guest {

inline constexpr const char* kPciDevices = "/sys/bus/pci/devices";

// The first ivshmem-plain device under `pci_devices` (in sorted order), enabled and its BAR2
// mapped; nullopt when there is none (not an error: the link then runs inline). An error when
// one is there but cannot be enabled or mapped.
Result<std::optional<SharedRegion>> map_ivshmem(const std::string& pci_devices = kPciDevices);

}  // namespace bridge::guest
