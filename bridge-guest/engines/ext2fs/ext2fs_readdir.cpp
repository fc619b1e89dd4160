// readdir pages. A cookie is a position in the directory: the index of the directory block
// (counted in iteration order) in the high 32 bits, the entry's byte offset in that block in the
// low 32, plus one so that 0 means "from the start". Positions only grow as iteration proceeds and
// entries do not move when others are added or removed, so a cookie stays valid across changes
// (as on the kernel, an entry added or removed meanwhile may or may not be seen).
#include <optional>
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

class PageBuilder {
 public:
  PageBuilder(Ext2Fs& fs, uint64_t cookie, uint32_t max_entries, bool with_attrs,
              std::string_view path)
      : fs_(fs), cookie_(cookie), max_(max_entries), with_attrs_(with_attrs), path_(path) {
    page_.next_cookie = cookie;
  }

  // Called for every entry, empty ones included: an entry at offset 0 opens a new block.
  int visit(const ext2_dir_entry* dirent, int offset) {
    if (offset == 0) block_ = started_ ? block_ + 1 : 0;
    started_ = true;
    uint64_t pos = (block_ << 32) | static_cast<uint32_t>(offset);
    if (dirent->inode == 0 || pos < cookie_ || is_dot(dirent)) return 0;
    if (page_.entries.size() >= max_) {
      more_ = true;
      return DIRENT_ABORT;
    }
    if (!emit(dirent)) return DIRENT_ABORT;
    page_.next_cookie = pos + 1;
    return 0;
  }

  Result<DirPage> finish() {
    if (error_) return *error_;
    page_.end = !more_;
    return std::move(page_);
  }

 private:
  static bool is_dot(const ext2_dir_entry* dirent) {
    int len = ext2fs_dirent_name_len(dirent);
    return (len == 1 && dirent->name[0] == '.') ||
           (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.');
  }

  bool emit(const ext2_dir_entry* dirent) {
    DirEntry e;
    e.name.assign(dirent->name, static_cast<std::size_t>(ext2fs_dirent_name_len(dirent)));
    e.ino = dirent->inode;
    if (ext2fs_has_feature_filetype(fs_.fs()->super))
      e.type = dt_from_dirent_type(ext2fs_dirent_file_type(dirent));
    if (with_attrs_ || e.type == 0) {
      auto inode = fs_.read_inode(dirent->inode, "readdir: read inode", path_);
      if (!inode) {
        error_ = inode.error();
        return false;
      }
      e.type = dt_from_mode(inode->mode());
      if (with_attrs_) e.attr = to_attr(fs_.fs(), dirent->inode, *inode);
    }
    page_.entries.push_back(std::move(e));
    return true;
  }

  Ext2Fs& fs_;
  uint64_t cookie_;
  uint32_t max_;
  bool with_attrs_;
  std::string_view path_;
  DirPage page_;
  uint64_t block_ = 0;
  bool started_ = false;
  bool more_ = false;
  std::optional<Error> error_;
};

}  // namespace

Result<DirPage> op_readdir(Ext2Fs& fs, const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                           bool with_attrs) {
  const std::string text = dir.str();
  if (max_entries == 0) return errno_error(EINVAL, "readdir (max_entries 0)", text);
  auto found = walk_existing(fs, dir, false);
  if (!found) return found.error();
  auto inode = fs.read_inode(found->ino, "readdir", text);
  if (!inode) return inode.error();
  if (!inode->is_dir()) return errno_error(ENOTDIR, "readdir", text);

  PageBuilder builder(fs, cookie, max_entries, with_attrs, text);
  auto trampoline = [](ext2_ino_t, int, ext2_dir_entry* dirent, int offset, int, char*,
                       void* priv) -> int {
    // INVARIANT: priv is &builder, alive for the whole ext2fs_dir_iterate2 call below.
    return static_cast<PageBuilder*>(priv)->visit(dirent, offset);
  };
  errcode_t err = ext2fs_dir_iterate2(fs.fs(), found->ino, DIRENT_FLAG_INCLUDE_EMPTY, nullptr,
                                      trampoline, &builder);
  if (err) return ext2_error(err, "readdir: ext2fs_dir_iterate2", text);
  return builder.finish();
}

}  // namespace bridge::guest::ext2
