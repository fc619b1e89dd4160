// The FUSE3 frontend of bridge-host: every filesystem scheme in a SchemeRegistry appears as
// /<mountpoint>/<scheme-name>/<path inside the export>, served by libfuse's multi-threaded loop
// on threads of its own. Each FUSE call becomes a call on the bridge::FsScheme found by name at
// that moment, so schemes that come, go offline or come back are seen at once.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"
#include "schemes/scheme_registry.h"

struct fuse;  // libfuse's handle; its header stays out of this one (FUSE_USE_VERSION is ours)

namespace bridge::host {

namespace fuse_impl {
class FrontendState;
struct MountDevice;
}  // namespace fuse_impl

struct FuseOptions {
  std::string mountpoint = "/scheme";
  double attr_timeout = 1.0;  // seconds the kernel may cache attributes
  double entry_timeout = 1.0;
  double negative_timeout = 0.0;
  unsigned max_threads = 8;
  bool allow_other = true;  // other users may use the mount (we run as root)
};

class FuseFrontend {
 public:
  // Creates the mountpoint if missing, clears a stale (ENOTCONN) FUSE mount left by a crashed
  // run with a warning, mounts, and starts the multi-threaded FUSE loop on its own threads.
  // Returns once the kernel has finished the FUSE handshake. EBUSY when a live FUSE filesystem
  // is already mounted there. The registry must outlive the frontend.
  static Result<std::unique_ptr<FuseFrontend>> start(SchemeRegistry& registry, FuseOptions options);
  // stop() and join. Must not run on a FUSE worker thread (it would wait for itself).
  ~FuseFrontend();
  // Thread-safe, idempotent, never blocks on the kernel or on a scheme: detaches the mount (it
  // leaves the namespace at once) and aborts the FUSE connection so loop threads waiting on
  // /dev/fuse wake up and calls in flight from clients fail. A loop thread inside a scheme call
  // finishes that call; the destructor waits for it.
  void stop();
  const std::string& mountpoint() const { return mountpoint_; }

  FuseFrontend(const FuseFrontend&) = delete;
  FuseFrontend& operator=(const FuseFrontend&) = delete;

 private:
  FuseFrontend(SchemeRegistry& registry, FuseOptions options, std::string mountpoint);
  Status mount();
  void open_abort_file();
  Status wait_until_serving();
  void run_loop();
  void release_session();

  std::string mountpoint_;                           // absolute, as /proc/self/mountinfo shows it
  std::unique_ptr<fuse_impl::FrontendState> state_;  // libfuse's private data; outlives fuse_
  std::unique_ptr<fuse_impl::MountDevice> device_;   // our mount's st_dev, once mounted
  UniqueFd abort_file_;  // our connection's fusectl abort file; invalid if fusectl is missing
  struct fuse* fuse_ = nullptr;
  std::thread loop_;
  std::mutex stop_mu_;  // guards stopped_; a second stop() waits until the first is done
  bool stopped_ = false;
};

}  // namespace bridge::host
