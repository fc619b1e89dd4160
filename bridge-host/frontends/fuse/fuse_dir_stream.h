// One opendir() through FUSE. The kernel resumes a listing by the offset we gave the last entry
// it took; a scheme resumes by an opaque cookie per page. A DirStream numbers entries itself
// (offset = position + 1, "." and ".." first) and remembers which cookie fetches each page, so
// sequential reads page forward with the scheme's cookies and seekdir() to an earlier telldir()
// re-fetches from the nearest known page.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "bridge-host/frontends/fuse/fuse_lib.h"
#include "common/name_component.h"
#include "schemes/fs_scheme.h"
#include "schemes/scheme_registry.h"

namespace bridge::host::fuse_impl {

class DirStream {
 public:
  // Entries asked of a scheme per page: a 4 KiB getdents buffer holds ~100 short names, so one
  // page usually serves a few kernel calls without another round trip to the guest.
  static constexpr uint32_t kPageEntries = 256;

  // A directory inside a scheme's export.
  DirStream(std::shared_ptr<FsScheme> scheme, RelPath path);
  // The mount root: one directory per online filesystem scheme.
  explicit DirStream(const SchemeRegistry& registry);

  // Fills the kernel's buffer from `offset` on (0 = from the start, refreshed). `plus` is
  // FUSE_READDIR_PLUS: entries carry attributes so `ls -l` needs no getattr per entry.
  // Returns 0 or -errno.
  int fill(void* buf, fuse_fill_dir_t filler, off_t offset, bool plus);

 private:
  struct Page {
    uint64_t first = 0;  // position of entries[0] in the listing
    DirPage page;
    bool with_attrs = false;
    bool valid = false;
  };

  Result<DirPage> fetch(uint64_t cookie, bool with_attrs);
  // Makes page_ hold `position`; false when the listing ends before it.
  Result<bool> load(uint64_t position, bool with_attrs);
  Result<bool> load_from(uint64_t first, uint64_t cookie, uint64_t position, bool with_attrs);
  void rewind();

  const std::shared_ptr<FsScheme> scheme_;  // null for the mount root
  const RelPath path_;
  const SchemeRegistry* const registry_;  // set for the mount root only

  std::mutex mu_;  // guards page_ and cookies_: readdir calls on one handle may overlap
  Page page_;
  std::map<uint64_t, uint64_t> cookies_;  // first position of a page -> cookie that fetches it
};

}  // namespace bridge::host::fuse_impl
