// The host's table of schemes by name ("ext4", "btrfs", "display.bochs"). Guest links add their
// exports when a guest says hello and mark them offline when it goes; a reconnecting guest puts
// them back. Frontends look schemes up by name on every call, so they see the change at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemes/fs_scheme.h"
#include "schemes/request_forwarder.h"

namespace bridge {
class RemoteDisplayScheme;
}

namespace bridge {

struct SchemeInfo {
  std::string name;
  bool display = false;  // else a filesystem
  std::string engine;
  bool read_only = false;
  bool online = false;
  std::string guest;  // name of the guest serving it
  std::string note;
};

class SchemeRegistry {
 public:
  // Adds the scheme, or replaces an earlier one of the same name (the guest reconnected).
  void put(SchemeInfo info, std::shared_ptr<FsScheme> fs,
           std::shared_ptr<RequestForwarder> forwarder = nullptr);
  // Marks every scheme the given guest link served offline. Calls on them then fail with EIO
  // until put() brings them back. `owner` tells one connection of a guest from the next.
  void mark_offline(const void* owner);
  // Adds or replaces the display scheme `info.name` (info.display must be set) and tells the
  // display listener, outside the lock, so a frontend can open its socket.
  void put_display(SchemeInfo info, std::shared_ptr<RemoteDisplayScheme> display);
  // One listener (the display frontend); it runs on the thread that called put_display.
  using DisplayListener = std::function<void(const std::string& name)>;
  void set_display_listener(DisplayListener listener);
  void set_owner(std::string_view name, const void* owner);

  // The filesystem scheme `name`, online or not; null when there is none of that name.
  std::shared_ptr<FsScheme> find_fs(std::string_view name) const;
  std::shared_ptr<RequestForwarder> find_forwarder(std::string_view name) const;
  // The display scheme `name` while it is online; null otherwise.
  std::shared_ptr<RemoteDisplayScheme> find_display(std::string_view name) const;
  // The info of `name` if there is such a scheme.
  std::optional<SchemeInfo> info(std::string_view name) const;
  std::vector<SchemeInfo> list() const;

 private:
  struct Entry {
    SchemeInfo info;
    std::shared_ptr<FsScheme> fs;
    std::shared_ptr<RequestForwarder> forwarder;
    const void* owner = nullptr;
    std::shared_ptr<RemoteDisplayScheme> display;
  };
  DisplayListener display_listener_;  // guarded by mu_; copied out before it runs
  mutable std::mutex mu_;             // guards entries_; never held while calling into a scheme
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace bridge
