#include <random>

#include "schemes/guest_channel.h"

namespace bridge {

namespace {

uint64_t fresh_token() {
  std::random_device rd;
  uint64_t token = 0;
  while (token == 0) token = (uint64_t{rd()} << 32) | rd();  // 0 means "no region"
  return token;
}

}  // namespace

GuestRegion::GuestRegion(SharedRegion m) : mapping(std::move(m)), allocator(mapping.size()) {
  // The allocator is first-fit on an empty region: the header lease is offset 0.
  if (auto lease = allocator.allocate(RegionAllocator::kPage); lease.ok()) {
    header = std::move(*lease);
    mapping.set_token(fresh_token());
  }
}

}  // namespace bridge
