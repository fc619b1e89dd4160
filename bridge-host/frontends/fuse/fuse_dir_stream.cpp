#include "bridge-host/frontends/fuse/fuse_dir_stream.h"

#include <dirent.h>

#include <spdlog/spdlog.h>

#include "bridge-host/frontends/fuse/fuse_convert.h"

namespace bridge::host::fuse_impl {
namespace {

// Offsets handed to the kernel: "." is 1, ".." is 2, scheme entry p is p + 3. An offset names
// the entry to resume after, so the kernel passes back the offset of the last entry it kept.
constexpr off_t kDotsCount = 2;

int emit_dot(void* buf, fuse_fill_dir_t filler, const char* name, off_t next) {
  struct stat st {};
  st.st_mode = S_IFDIR;
  return filler(buf, name, &st, next, static_cast<fuse_fill_dir_flags>(0));
}

}  // namespace

DirStream::DirStream(std::shared_ptr<FsScheme> scheme, RelPath path)
    : scheme_(std::move(scheme)), path_(std::move(path)), registry_(nullptr) {
  rewind();
}

DirStream::DirStream(const SchemeRegistry& registry) : registry_(&registry) {
  rewind();
}

void DirStream::rewind() {
  page_ = Page{};
  cookies_.clear();
  cookies_[0] = 0;
}

Result<DirPage> DirStream::fetch(uint64_t cookie, bool with_attrs) {
  if (scheme_) return scheme_->readdir(path_, cookie, kPageEntries, with_attrs);
  // The mount root lists itself in one page; attributes of a scheme root would cost a round
  // trip to its guest each, so the kernel gets the type only and looks up what it needs.
  DirPage page;
  page.end = true;
  for (const auto& info : registry_->list()) {
    if (info.display || !info.online) continue;
    DirEntry entry;
    entry.name = info.name;
    entry.type = DT_DIR;
    page.entries.push_back(std::move(entry));
  }
  return page;
}

Result<bool> DirStream::load_from(uint64_t first, uint64_t cookie, uint64_t position,
                                  bool with_attrs) {
  for (;;) {
    auto page = fetch(cookie, with_attrs);
    if (!page) return page.error();
    cookies_[first] = cookie;
    const bool stalled = page->entries.empty() && !page->end;
    page_ = Page{
        .first = first, .page = std::move(page).value(), .with_attrs = with_attrs, .valid = true};
    if (stalled) {
      // A page with nothing in it that is not the end would make us loop forever.
      spdlog::warn("readdir of {}: scheme returned an empty page before the end", path_.str());
      page_.page.end = true;
    }
    const uint64_t past = first + page_.page.entries.size();
    if (position < past) return true;
    if (page_.page.end) return false;
    first = past;
    cookie = page_.page.next_cookie;
  }
}

Result<bool> DirStream::load(uint64_t position, bool with_attrs) {
  if (page_.valid) {
    const uint64_t past = page_.first + page_.page.entries.size();
    if (position >= page_.first && position < past) return true;
    if (position >= past && page_.page.end) return false;
    if (position >= past) return load_from(past, page_.page.next_cookie, position, with_attrs);
  }
  // Backwards (seekdir) or nothing loaded yet: start from the nearest page we know of.
  auto known = std::prev(cookies_.upper_bound(position));
  return load_from(known->first, known->second, position, with_attrs);
}

int DirStream::fill(void* buf, fuse_fill_dir_t filler, off_t offset, bool plus) {
  std::lock_guard lock(mu_);
  if (offset < 0) return -EINVAL;
  if (offset == 0) rewind();  // SUS: rewinddir() shows the directory's current contents
  if (offset == 0 && emit_dot(buf, filler, ".", 1)) return 0;
  if (offset <= 1 && emit_dot(buf, filler, "..", 2)) return 0;

  bool emitted = offset < kDotsCount;
  for (uint64_t position = offset < kDotsCount ? 0 : offset - kDotsCount;; ++position) {
    auto loaded = load(position, plus);
    // An error after some entries went out is reported by the next call, which retries.
    if (!loaded) return emitted ? 0 : negative_errno(loaded.error());
    if (!*loaded) return 0;
    const DirEntry& entry = page_.page.entries[position - page_.first];
    const bool full = plus && page_.with_attrs;
    struct stat st;
    to_stat(entry, full, st);
    const auto flags = full ? FUSE_FILL_DIR_PLUS : static_cast<fuse_fill_dir_flags>(0);
    const auto next = static_cast<off_t>(position) + kDotsCount + 1;
    if (filler(buf, entry.name.c_str(), &st, next, flags)) return 0;
    emitted = true;
  }
}

}  // namespace bridge::host::fuse_impl
