// What every FUSE operation shares: the registry, the open-file and open-directory tables, and
// the error boundary. libfuse hands it to each call as fuse_get_context()->private_data; there
// is no global.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

#include "bridge-host/frontends/fuse/fuse_convert.h"
#include "bridge-host/frontends/fuse/fuse_dir_stream.h"
#include "bridge-host/frontends/fuse/fuse_frontend.h"
#include "bridge-host/frontends/fuse/fuse_lib.h"
#include "bridge-host/frontends/fuse/fuse_paths.h"
#include "common/handle_table.h"
#include "schemes/scheme_registry.h"

namespace bridge::host::fuse_impl {

// One open() of a file in a scheme. Holds the scheme itself: after a guest reconnects the
// registry has a new scheme object, and the old FileId only means something to the old one
// (which answers EIO/ESTALE).
struct OpenFile {
  std::shared_ptr<FsScheme> scheme;
  FileId id = 0;
  std::size_t max_io = 0;  // the scheme's, read once at open
};

class FrontendState {
 public:
  FrontendState(SchemeRegistry& registry, const FuseOptions& options);

  SchemeRegistry& registry;
  const FuseOptions options;
  // fuse_file_info::fh of files and directories: generation-checked handles, never pointers.
  HandleTable<OpenFile> files;
  HandleTable<DirStream> dirs;
  const Attr root_attr;  // the mount root: a read-only directory owned by the daemon

  // The FUSE handshake (init) and the loop's end, for start() to wait on.
  void mark_initialized();
  void mark_loop_ended();
  // True once init ran; false on timeout or when the loop ended first.
  bool wait_initialized(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;  // guards initialized_ and loop_ended_
  std::condition_variable cv_;
  bool initialized_ = false;
  bool loop_ended_ = false;
};

// The state of the frontend serving the current FUSE call.
FrontendState& current_state();
Creds caller_creds();

// What a FUSE path names, resolved against the registry now.
struct Target {
  FusePath path;
  std::shared_ptr<FsScheme> scheme;  // null for the mount root
};
// ENOENT for a scheme that is not in the registry (or is a display).
Result<Target> resolve(const char* path);
// A path that names an entry inside an export, for operations that create, remove or rename
// one: the mount root and its entries (the schemes themselves) are not the frontend's to
// change, so they give EPERM.
Result<Target> resolve_inside(const char* path);
// The open file behind fuse_file_info::fh; null for an unknown or closed handle.
std::shared_ptr<OpenFile> find_file(const fuse_file_info* fi);

// The error boundary of every operation: a scheme that throws must not take the daemon down
// with it, and libfuse's C frames must never see a C++ exception.
template <typename Body>
int guarded(const char* op, const char* path, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    spdlog::error("fuse {} {}: exception from scheme code: {}", op, path ? path : "(by handle)",
                  e.what());
  } catch (...) {
    spdlog::error("fuse {} {}: unknown exception from scheme code", op,
                  path ? path : "(by handle)");
  }
  return -EIO;
}

}  // namespace bridge::host::fuse_impl
