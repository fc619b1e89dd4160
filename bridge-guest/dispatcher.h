// Decode + dispatch on the guest: turns one wire::Request into calls on the export's engine and
// builds the wire::Response. Pure with respect to I/O (the session moves the bytes), so it can
// be unit-tested and fuzzed on its own.
//
// Serialization is the caller's job: calls for an export whose engine is not parallel() must not
// overlap (the session runs them on one strand per export).
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bridge-guest/drm_dispatch.h"
#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/export_spec.h"
#include "common/handle_table.h"
#include "common/shared_region.h"
#include "schema/bridge.capnp.h"

namespace bridge::guest {

// One export being served: a filesystem (its engine and the files the host has open on it) or
// a display (its DRM dispatch).
class ServedExport {
 public:
  ServedExport(ExportSpec spec, std::unique_ptr<FsEngine> engine, uint16_t boot_tag)
      : spec_(std::move(spec)), engine_(std::move(engine)), files_(boot_tag) {}
  ServedExport(ExportSpec spec, std::unique_ptr<DrmDispatch> display, uint16_t boot_tag)
      : spec_(std::move(spec)), display_(std::move(display)), files_(boot_tag) {}

  const ExportSpec& spec() const { return spec_; }
  // Filesystem exports only (display() is null for them).
  FsEngine& engine() { return *engine_; }
  const FsEngine& engine() const { return *engine_; }
  // Display exports only; null for filesystems.
  DrmDispatch* display() { return display_.get(); }
  // Whether calls may overlap; a display's object tables want one call at a time.
  bool parallel() const { return engine_ && engine_->parallel(); }
  HandleTable<OpenFile>& files() { return files_; }

 private:
  ExportSpec spec_;
  std::unique_ptr<FsEngine> engine_;
  std::unique_ptr<DrmDispatch> display_;
  HandleTable<OpenFile> files_;  // declared after engine_: files close before the engine goes
};

// What dispatch code knows about the connection a request arrived on. Built by the session for
// every request; dispatch functions (fs_dispatch, and display dispatch) take it by const&.
struct ConnectionContext {
  // The shared region both hellos agreed on, or nullptr: bulk data then travels inline. The
  // session keeps it mapped until every request holding this context has answered. Every
  // offset and length the host sends goes through region->slice() before a byte is touched.
  const SharedRegion* region = nullptr;
};

class Dispatcher {
 public:
  Dispatcher(std::vector<std::unique_ptr<ServedExport>> exports, uint64_t boot_id);

  // Fills the guest's hello: version, name, exports, bootId, and the size of the shared region
  // it mapped for this connection (0: none).
  void describe(const std::string& guest_name, uint64_t region_size,
                wire::Hello::Builder hello) const;

  std::size_t export_count() const { return exports_.size(); }
  ServedExport& export_at(std::size_t index) { return *exports_[index]; }

  // The whole response frame for one request. Never throws: a malformed request gets
  // Errno::PROTO, an unknown export Errno::NODEV.
  kj::Array<capnp::word> handle(wire::Request::Reader request,
                                const ConnectionContext& connection = {});

  // The response for a request that was cancelled before it ran.
  static kj::Array<capnp::word> canceled(uint64_t id);

  // Where display events (hotplug, vblank, flipDone) go; null drops them (no host connected).
  void set_event_sink(const FrameSink& sink);

  uint64_t boot_id() const { return boot_id_; }

 private:
  std::vector<std::unique_ptr<ServedExport>> exports_;
  uint64_t boot_id_;
};

}  // namespace bridge::guest
