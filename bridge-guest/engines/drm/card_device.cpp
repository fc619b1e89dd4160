#include "bridge-guest/engines/drm/card_device.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "bridge-guest/engines/drm/drm_util.h"

namespace bridge::guest {
namespace {

// Owners for libdrm's allocations.
template <typename T, void (*Free)(T*)>
struct DrmFree {
  void operator()(T* p) const { Free(p); }
};
using ResPtr = std::unique_ptr<drmModeRes, DrmFree<drmModeRes, drmModeFreeResources>>;
using ConnPtr = std::unique_ptr<drmModeConnector, DrmFree<drmModeConnector, drmModeFreeConnector>>;
using EncPtr = std::unique_ptr<drmModeEncoder, DrmFree<drmModeEncoder, drmModeFreeEncoder>>;
using CrtcPtr = std::unique_ptr<drmModeCrtc, DrmFree<drmModeCrtc, drmModeFreeCrtc>>;
using PlaneResPtr =
    std::unique_ptr<drmModePlaneRes, DrmFree<drmModePlaneRes, drmModeFreePlaneResources>>;
using PlanePtr = std::unique_ptr<drmModePlane, DrmFree<drmModePlane, drmModeFreePlane>>;
using PropsPtr = std::unique_ptr<drmModeObjectProperties,
                                 DrmFree<drmModeObjectProperties, drmModeFreeObjectProperties>>;
using PropPtr =
    std::unique_ptr<drmModePropertyRes, DrmFree<drmModePropertyRes, drmModeFreeProperty>>;
using VersionPtr = std::unique_ptr<drmVersion, DrmFree<drmVersion, drmFreeVersion>>;

DrmModeInfo from_drm(const drmModeModeInfo& m) {
  DrmModeInfo out;
  out.name = std::string(m.name, strnlen(m.name, sizeof m.name));
  out.clock = m.clock;
  out.hdisplay = m.hdisplay, out.hsync_start = m.hsync_start, out.hsync_end = m.hsync_end;
  out.htotal = m.htotal, out.hskew = m.hskew;
  out.vdisplay = m.vdisplay, out.vsync_start = m.vsync_start, out.vsync_end = m.vsync_end;
  out.vtotal = m.vtotal, out.vscan = m.vscan;
  out.vrefresh = m.vrefresh, out.flags = m.flags, out.type = m.type;
  return out;
}

drmModeModeInfo to_drm(const DrmModeInfo& m) {
  drmModeModeInfo out{};
  std::memcpy(out.name, m.name.data(), std::min(m.name.size(), sizeof out.name - 1));
  out.clock = m.clock;
  out.hdisplay = m.hdisplay, out.hsync_start = m.hsync_start, out.hsync_end = m.hsync_end;
  out.htotal = m.htotal, out.hskew = m.hskew;
  out.vdisplay = m.vdisplay, out.vsync_start = m.vsync_start, out.vsync_end = m.vsync_end;
  out.vtotal = m.vtotal, out.vscan = m.vscan;
  out.vrefresh = m.vrefresh, out.flags = m.flags, out.type = m.type;
  return out;
}

std::string connector_name(const drmModeConnector& c) {
  const char* type = drmModeGetConnectorTypeName(c.connector_type);
  return std::string(type ? type : "Unknown") + "-" + std::to_string(c.connector_type_id);
}

uint64_t get_cap(int fd, uint64_t cap, uint64_t fallback) {
  uint64_t value = 0;
  return drmGetCap(fd, cap, &value) == 0 ? value : fallback;
}

bool has_connected_connector(int fd) {
  ResPtr res(drmModeGetResources(fd));
  if (!res) return false;
  for (int i = 0; i < res->count_connectors; ++i) {
    ConnPtr c(drmModeGetConnector(fd, res->connectors[i]));
    if (c && c->connection == DRM_MODE_CONNECTED) return true;
  }
  return false;
}

}  // namespace

std::string display_scheme_name(const std::string& driver) {
  if (driver == "bochs-drm" || driver == "bochs") return "display.bochs";
  // Lower case, and anything a scheme name may not hold ('_' included) as '-'.
  std::string name;
  for (unsigned char c : driver) {
    c = static_cast<unsigned char>(std::tolower(c));
    name += (std::isalnum(c) || c == '.' || c == '-') ? static_cast<char>(c) : '-';
  }
  if (name.ends_with("-drm")) name.resize(name.size() - 4);
  return "display." + (name.empty() ? std::string("card") : name);
}

CardDevice::CardDevice(UniqueFd fd, std::string path)
    : fd_(std::move(fd)), path_(std::move(path)) {}

Result<std::unique_ptr<CardDevice>> CardDevice::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return errno_error("open " + path + " (is the DRM driver loaded, and are we root?)");
  std::unique_ptr<CardDevice> dev(new CardDevice(std::move(fd), path));
  if (auto st = dev->init_caps(); !st) return st.error();
  if (drmSetMaster(dev->fd_.get()) != 0 && !drmIsMaster(dev->fd_.get())) {
    spdlog::warn(
        "{}: another process is DRM master ({}); queries work, modesets and page "
        "flips will fail until it lets go",
        path, std::strerror(errno));
  }
  spdlog::info("{}: driver {} ({}), cursor {}x{}, vblank {}", path, dev->caps_.driver,
               dev->caps_.description, dev->caps_.cursor_width, dev->caps_.cursor_height,
               dev->caps_.vblank ? "yes" : "no");
  return dev;
}

Result<std::string> CardDevice::find_auto() {
  for (int i = 0; i < 16; ++i) {
    std::string path = "/dev/dri/card" + std::to_string(i);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd && has_connected_connector(fd.get())) return path;
  }
  return make_error(ENODEV,
                    "drm:auto: no /dev/dri/cardN with a connected connector (is the DRM "
                    "driver module loaded? give drm:/dev/dri/cardN to pick one)");
}

Status CardDevice::init_caps() {
  const int fd = fd_.get();
  VersionPtr version(drmGetVersion(fd));
  if (!version) return errno_error(path_ + ": DRM_IOCTL_VERSION (not a DRM device?)");
  caps_.driver.assign(version->name, static_cast<std::size_t>(version->name_len));
  caps_.description.assign(version->desc, static_cast<std::size_t>(version->desc_len));
  caps_.dumb_buffer = get_cap(fd, DRM_CAP_DUMB_BUFFER, 0) != 0;
  if (!caps_.dumb_buffer) return make_error(ENOTSUP, path_ + ": driver has no dumb buffers");
  caps_.cursor_width = static_cast<uint32_t>(get_cap(fd, DRM_CAP_CURSOR_WIDTH, 64));
  caps_.cursor_height = static_cast<uint32_t>(get_cap(fd, DRM_CAP_CURSOR_HEIGHT, 64));
  caps_.async_flip = get_cap(fd, DRM_CAP_ASYNC_PAGE_FLIP, 0) != 0;
  caps_.preferred_depth = static_cast<uint32_t>(get_cap(fd, DRM_CAP_DUMB_PREFERRED_DEPTH, 24));
  // Primary and cursor planes are listed too (getPlanes reports their types).
  drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
  // Drivers without vblank support answer DRM_IOCTL_WAIT_VBLANK with EOPNOTSUPP; a driver with
  // it answers a query on CRTC 0 (or EINVAL while that CRTC is off).
  drmVBlank probe{};
  probe.request.type = DRM_VBLANK_RELATIVE;
  caps_.vblank = drmWaitVBlank(fd, &probe) == 0 || (errno != EOPNOTSUPP && errno != ENOTSUP);
  return {};
}

CardDevice::~CardDevice() {
  if (events_.joinable()) {
    const uint64_t one = 1;
    // INVARIANT: stop_fd_ is an eventfd; an 8-byte write wakes the poll in event_loop.
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    events_.join();
  }
  if (cursor_handle_ != 0) drmModeDestroyDumbBuffer(fd_.get(), cursor_handle_);
  while (!dumbs_.empty()) (void)destroy_dumb_locked(dumbs_.begin()->first);
}

Result<DrmResourcesInfo> CardDevice::resources() {
  ResPtr res(drmModeGetResources(fd_.get()));
  if (!res) return errno_error(path_ + ": drmModeGetResources");
  DrmResourcesInfo out;
  out.crtcs.assign(res->crtcs, res->crtcs + res->count_crtcs);
  out.connectors.assign(res->connectors, res->connectors + res->count_connectors);
  out.encoders.assign(res->encoders, res->encoders + res->count_encoders);
  out.framebuffers.assign(res->fbs, res->fbs + res->count_fbs);
  out.min_width = res->min_width, out.max_width = res->max_width;
  out.min_height = res->min_height, out.max_height = res->max_height;
  if (PlaneResPtr planes(drmModeGetPlaneResources(fd_.get())); planes)
    out.planes.assign(planes->planes, planes->planes + planes->count_planes);
  return out;
}

Result<DrmConnectorInfo> CardDevice::connector(uint32_t id) {
  ConnPtr c(drmModeGetConnector(fd_.get(), id));
  if (!c) return errno_error(path_ + ": connector " + std::to_string(id));
  DrmConnectorInfo out;
  out.id = c->connector_id;
  out.type = c->connector_type;
  out.connected = c->connection == DRM_MODE_CONNECTED;
  for (int i = 0; i < c->count_modes; ++i) out.modes.push_back(from_drm(c->modes[i]));
  out.width_mm = c->mmWidth, out.height_mm = c->mmHeight;
  out.name = connector_name(*c);
  out.encoder = c->encoder_id;
  for (int i = 0; i < c->count_encoders; ++i) {
    if (EncPtr e(drmModeGetEncoder(fd_.get(), c->encoders[i])); e)
      out.possible_crtcs |= e->possible_crtcs;
  }
  return out;
}

Result<DrmCrtcInfo> CardDevice::crtc(uint32_t id) {
  CrtcPtr c(drmModeGetCrtc(fd_.get(), id));
  if (!c) return errno_error(path_ + ": crtc " + std::to_string(id));
  DrmCrtcInfo out{c->crtc_id, c->buffer_id, c->x, c->y, std::nullopt};
  if (c->mode_valid) out.mode = from_drm(c->mode);
  return out;
}

Result<std::vector<DrmPlaneInfo>> CardDevice::planes() {
  PlaneResPtr res(drmModeGetPlaneResources(fd_.get()));
  if (!res) return errno_error(path_ + ": drmModeGetPlaneResources");
  std::vector<DrmPlaneInfo> out;
  for (uint32_t i = 0; i < res->count_planes; ++i) {
    PlanePtr p(drmModeGetPlane(fd_.get(), res->planes[i]));
    if (!p) return errno_error(path_ + ": plane " + std::to_string(res->planes[i]));
    DrmPlaneInfo info{p->plane_id, p->possible_crtcs, p->crtc_id, p->fb_id, 0, {}};
    info.formats.assign(p->formats, p->formats + p->count_formats);
    PropsPtr props(drmModeObjectGetProperties(fd_.get(), p->plane_id, DRM_MODE_OBJECT_PLANE));
    for (uint32_t k = 0; props && k < props->count_props; ++k) {
      PropPtr prop(drmModeGetProperty(fd_.get(), props->props[k]));
      if (prop && std::strcmp(prop->name, "type") == 0)
        info.type = static_cast<uint32_t>(props->prop_values[k]);
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<DumbInfo> CardDevice::create_dumb(uint32_t width, uint32_t height, uint32_t bpp) {
  DumbInfo info;
  int ret = drmModeCreateDumbBuffer(fd_.get(), width, height, bpp, 0, &info.handle, &info.pitch,
                                    &info.size);
  if (ret != 0) return drm_error(ret, path_ + ": create dumb buffer");
  uint64_t offset = 0;
  if (ret = drmModeMapDumbBuffer(fd_.get(), info.handle, &offset); ret != 0) {
    auto err = drm_error(ret, path_ + ": map dumb buffer");
    drmModeDestroyDumbBuffer(fd_.get(), info.handle);
    return err;
  }
  // INVARIANT: offset is the fake mmap offset the kernel handed out for this handle; the
  // mapping lives until destroy_dumb (or the destructor) unmaps it.
  void* base = ::mmap(nullptr, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(),
                      static_cast<off_t>(offset));
  if (base == MAP_FAILED) {
    auto err = errno_error(path_ + ": mmap dumb buffer");
    drmModeDestroyDumbBuffer(fd_.get(), info.handle);
    return err;
  }
  dumbs_[info.handle] = Mapping{static_cast<std::byte*>(base), info.size};
  return info;
}

Status CardDevice::destroy_dumb_locked(uint32_t handle) {
  auto it = dumbs_.find(handle);
  if (it == dumbs_.end()) return make_error(ENOENT, "no dumb buffer " + std::to_string(handle));
  // INVARIANT: base/size are exactly what mmap returned in create_dumb.
  ::munmap(it->second.base, it->second.size);
  dumbs_.erase(it);
  if (int ret = drmModeDestroyDumbBuffer(fd_.get(), handle); ret != 0)
    return drm_error(ret, path_ + ": destroy dumb buffer " + std::to_string(handle));
  return {};
}

Status CardDevice::destroy_dumb(uint32_t handle) {
  return destroy_dumb_locked(handle);
}

Result<std::span<std::byte>> CardDevice::dumb_pixels(uint32_t handle) {
  auto it = dumbs_.find(handle);
  if (it == dumbs_.end()) return make_error(ENOENT, "no dumb buffer " + std::to_string(handle));
  return std::span<std::byte>(it->second.base, it->second.size);
}

Result<uint32_t> CardDevice::add_framebuffer(uint32_t width, uint32_t height, uint32_t format,
                                             uint32_t handle, uint32_t pitch) {
  const uint32_t handles[4] = {handle, 0, 0, 0};
  const uint32_t pitches[4] = {pitch, 0, 0, 0};
  const uint32_t offsets[4] = {0, 0, 0, 0};
  uint32_t fb = 0;
  if (int ret = drmModeAddFB2(fd_.get(), width, height, format, handles, pitches, offsets, &fb, 0);
      ret != 0)
    return drm_error(ret, path_ + ": add framebuffer");
  return fb;
}

Status CardDevice::remove_framebuffer(uint32_t fb) {
  if (int ret = drmModeRmFB(fd_.get(), fb); ret != 0)
    return drm_error(ret, path_ + ": remove framebuffer " + std::to_string(fb));
  return {};
}

Status CardDevice::set_crtc(uint32_t crtc, uint32_t fb, uint32_t x, uint32_t y,
                            std::span<const uint32_t> connectors,
                            const std::optional<DrmModeInfo>& mode) {
  std::vector<uint32_t> conns(connectors.begin(), connectors.end());
  drmModeModeInfo m{};
  if (mode) m = to_drm(*mode);
  int ret = drmModeSetCrtc(fd_.get(), crtc, fb, x, y, conns.empty() ? nullptr : conns.data(),
                           static_cast<int>(conns.size()), mode ? &m : nullptr);
  if (ret != 0) return drm_error(ret, path_ + ": modeset crtc " + std::to_string(crtc));
  return {};
}

Status CardDevice::dirty(uint32_t fb, std::span<const PixelRect> rects) {
  // The kernel takes at most DRM_MODE_FB_DIRTY_MAX_CLIPS (256) clips; more means "all of it".
  std::vector<drmModeClip> clips;
  if (rects.size() <= 256) {
    for (const auto& r : rects) {
      clips.push_back(
          drmModeClip{static_cast<uint16_t>(r.x), static_cast<uint16_t>(r.y),
                      static_cast<uint16_t>(std::min<uint32_t>(r.x + r.width, 0xffff)),
                      static_cast<uint16_t>(std::min<uint32_t>(r.y + r.height, 0xffff))});
    }
  }
  int ret = drmModeDirtyFB(fd_.get(), fb, clips.empty() ? nullptr : clips.data(),
                           static_cast<uint32_t>(clips.size()));
  const int err = ret == 0 ? 0 : (ret == -1 ? errno : -ret);
  // Drivers that scan the dumb buffer out directly have nothing to flush.
  if (err == ENOSYS || err == EOPNOTSUPP) {
    if (!dirty_noted_)
      spdlog::info("{}: {} takes no dirty rectangles ({}): it scans the buffer out directly", path_,
                   caps_.driver, std::strerror(err));
    dirty_noted_ = true;
    return {};
  }
  if (err == 0) return {};
  return make_error(err, path_ + ": dirty framebuffer " + std::to_string(fb));
}

Status CardDevice::page_flip(uint32_t crtc, uint32_t fb, uint64_t cookie) {
  // INVARIANT: the kernel carries user_data as a u64 and hands it back in the event; it is the
  // host's cookie, never dereferenced.
  void* user = reinterpret_cast<void*>(static_cast<uintptr_t>(cookie));
  if (int ret = drmModePageFlip(fd_.get(), crtc, fb, DRM_MODE_PAGE_FLIP_EVENT, user); ret != 0)
    return drm_error(ret, path_ + ": page flip on crtc " + std::to_string(crtc));
  return {};
}

Result<int> CardDevice::crtc_index(uint32_t crtc) {
  auto res = resources();
  if (!res) return res.error();
  auto it = std::find(res->crtcs.begin(), res->crtcs.end(), crtc);
  if (it == res->crtcs.end()) return make_error(ENOENT, "no crtc " + std::to_string(crtc));
  return static_cast<int>(it - res->crtcs.begin());
}

Status CardDevice::request_vblank(uint32_t crtc, uint64_t cookie) {
  if (!caps_.vblank) return make_error(ENOTSUP, caps_.driver + " has no vblank events");
  auto index = crtc_index(crtc);
  if (!index) return index.error();
  uint64_t token = 0;
  {
    std::lock_guard lock(vblank_mu_);
    token = next_vblank_token_++;
    vblank_waits_[token] = {crtc, cookie};
  }
  drmVBlank vbl{};
  vbl.request.type = static_cast<drmVBlankSeqType>(
      DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT |
      ((static_cast<unsigned>(*index) << DRM_VBLANK_HIGH_CRTC_SHIFT) & DRM_VBLANK_HIGH_CRTC_MASK));
  vbl.request.sequence = 1;
  vbl.request.signal = static_cast<unsigned long>(token);
  if (drmWaitVBlank(fd_.get(), &vbl) != 0) {
    auto err = errno_error(path_ + ": vblank event on crtc " + std::to_string(crtc));
    std::lock_guard lock(vblank_mu_);
    vblank_waits_.erase(token);
    return err;
  }
  return {};
}

Status CardDevice::ensure_cursor_buffer() {
  if (cursor_handle_ != 0) return {};
  auto dumb = create_dumb(caps_.cursor_width, caps_.cursor_height, 32);
  if (!dumb) return dumb.error();
  cursor_handle_ = dumb->handle;
  cursor_pitch_ = dumb->pitch;
  return {};
}

Status CardDevice::set_cursor(uint32_t crtc, uint32_t width, uint32_t height, int32_t hot_x,
                              int32_t hot_y, std::span<const std::byte> argb) {
  if (width == 0 || height == 0) {
    if (int ret = drmModeSetCursor2(fd_.get(), crtc, 0, 0, 0, 0, 0); ret != 0)
      return drm_error(ret, path_ + ": hide cursor");
    return {};
  }
  if (width > caps_.cursor_width || height > caps_.cursor_height ||
      argb.size() < uint64_t{width} * height * 4)
    return make_error(EINVAL, "cursor image larger than the cursor plane or short");
  if (auto st = ensure_cursor_buffer(); !st) return st;
  auto pixels = dumb_pixels(cursor_handle_);
  if (!pixels) return pixels.error();
  const uint32_t pitch = cursor_pitch_;
  // The buffer is always cursor_width x cursor_height: clear it, then the image top-left.
  std::memset(pixels->data(), 0, pixels->size());
  for (uint32_t row = 0; row < height; ++row)
    std::memcpy(pixels->data() + std::size_t{row} * pitch,
                argb.data() + std::size_t{row} * width * 4, std::size_t{width} * 4);
  if (int ret = drmModeSetCursor2(fd_.get(), crtc, cursor_handle_, caps_.cursor_width,
                                  caps_.cursor_height, hot_x, hot_y);
      ret != 0)
    return drm_error(ret, path_ + ": set cursor on crtc " + std::to_string(crtc));
  return {};
}

Status CardDevice::move_cursor(uint32_t crtc, int32_t x, int32_t y) {
  if (int ret = drmModeMoveCursor(fd_.get(), crtc, x, y); ret != 0)
    return drm_error(ret, path_ + ": move cursor on crtc " + std::to_string(crtc));
  return {};
}

}  // namespace bridge::guest
