#include "schemes/scheme_registry.h"

namespace bridge {

void SchemeRegistry::put(SchemeInfo info, std::shared_ptr<FsScheme> fs,
                         std::shared_ptr<RequestForwarder> forwarder) {
  std::lock_guard lock(mu_);
  auto name = info.name;
  entries_[name] = Entry{std::move(info), std::move(fs), std::move(forwarder), nullptr, nullptr};
}

void SchemeRegistry::put_display(SchemeInfo info, std::shared_ptr<RemoteDisplayScheme> display) {
  DisplayListener listener;
  auto name = info.name;
  {
    std::lock_guard lock(mu_);
    info.display = true;
    Entry entry{std::move(info), nullptr, nullptr, nullptr, std::move(display)};
    entries_[name] = std::move(entry);
    listener = display_listener_;
  }
  if (listener) listener(name);
}

void SchemeRegistry::set_display_listener(DisplayListener listener) {
  std::lock_guard lock(mu_);
  display_listener_ = std::move(listener);
}

std::shared_ptr<RemoteDisplayScheme> SchemeRegistry::find_display(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || !it->second.info.online) return nullptr;
  return it->second.display;
}

void SchemeRegistry::set_owner(std::string_view name, const void* owner) {
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(name); it != entries_.end()) it->second.owner = owner;
}

void SchemeRegistry::mark_offline(const void* owner) {
  std::lock_guard lock(mu_);
  for (auto& [name, entry] : entries_) {
    if (entry.owner == owner) entry.info.online = false;
  }
}

std::shared_ptr<FsScheme> SchemeRegistry::find_fs(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.info.display) return nullptr;
  return it->second.fs;
}

std::shared_ptr<RequestForwarder> SchemeRegistry::find_forwarder(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.forwarder;
}

std::optional<SchemeInfo> SchemeRegistry::info(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<SchemeInfo> SchemeRegistry::list() const {
  std::lock_guard lock(mu_);
  std::vector<SchemeInfo> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(entry.info);
  return out;
}

}  // namespace bridge
