#include "common/shared_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>
#include <utility>

namespace bridge {

SharedRegion::SharedRegion(UniqueFd fd, std::byte* base, uint64_t size, std::string what)
    : fd_(std::move(fd)), base_(base), size_(size), what_(std::move(what)) {}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      what_(std::move(other.what_)) {}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
  if (this != &other) {
    unmap();
    fd_ = std::move(other.fd_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    what_ = std::move(other.what_);
  }
  return *this;
}

SharedRegion::~SharedRegion() {
  unmap();
}

void SharedRegion::unmap() {
  if (base_) ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

Result<SharedRegion> SharedRegion::map_fd(UniqueFd fd, std::string what) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(errno, "fstat " + what);
  // sysfs reports a PCI BAR's size as the file size, like a regular file.
  if (st.st_size <= 0) return make_error(EINVAL, what + " is empty: no shared region to map");
  auto size = static_cast<uint64_t>(st.st_size);
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) return make_error(errno, "mmap " + what);
  return SharedRegion(std::move(fd), static_cast<std::byte*>(base), size, std::move(what));
}

Result<SharedRegion> SharedRegion::map_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return make_error(errno, "open shared region " + path);
  return map_fd(std::move(fd), path);
}

Result<SharedRegion> SharedRegion::create_memfd(uint64_t size, const std::string& name) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) return make_error(errno, "memfd_create " + name);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return make_error(errno, "size memfd " + name + " to " + std::to_string(size) + " bytes");
  return map_fd(std::move(fd), "memfd " + name);
}

Result<std::span<std::byte>> SharedRegion::slice(uint64_t offset, uint64_t length) const {
  if (!range_within(offset, length, size_)) {
    return make_error(EFAULT, "region range [" + std::to_string(offset) + ", +" +
                                  std::to_string(length) + ") is outside " + what_ + " (" +
                                  std::to_string(size_) + " bytes)");
  }
  return std::span<std::byte>(base_ + offset, static_cast<size_t>(length));
}

uint64_t SharedRegion::token() const {
  uint64_t token = 0;
  if (size_ >= sizeof token) std::memcpy(&token, base_, sizeof token);
  return token;
}

void SharedRegion::set_token(uint64_t token) {
  if (size_ >= sizeof token) std::memcpy(base_, &token, sizeof token);
}

}  // namespace bridge
