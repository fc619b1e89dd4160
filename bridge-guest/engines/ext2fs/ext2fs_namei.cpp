// Path walking with confinement. The export root is the filesystem's root inode: ".." at the
// root stays there, an absolute symlink target restarts there, and a lookup only ever follows
// directory entries, so no path can name anything outside the filesystem.

#include <deque>
#include <span>
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_file.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"
#include "common/name_component.h"

namespace bridge::guest::ext2 {

namespace {

// The kernel's limit on a symlink target (PATH_MAX including the NUL).
constexpr uint64_t kSymlinkMax = 4095;

// Splits a symlink target into pending components, in front of what is left of the path.
// Empty components are dropped; a trailing '/' keeps a "." so the result must be a directory.
void push_target(std::deque<std::string>& pending, std::string_view target) {
  std::deque<std::string> parts;
  std::size_t start = 0;
  while (start <= target.size()) {
    std::size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    if (slash > start) parts.emplace_back(target.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.empty() || target.back() == '/') parts.emplace_back(".");
  pending.insert(pending.begin(), parts.begin(), parts.end());
}

class Walker {
 public:
  Walker(Ext2Fs& fs, const RelPath& path) : fs_(fs), text_(path.str()) {
    for (const auto& c : path.components()) pending_.push_back(c.str());
  }

  Result<Lookup> run(bool follow_final) {
    if (pending_.empty()) return Lookup{kRootIno, "", kRootIno};
    while (!pending_.empty()) {
      std::string name = std::move(pending_.front());
      pending_.pop_front();
      bool last = pending_.empty();
      auto child = step(name);
      if (!child) return child.error();
      if (*child == 0) {
        if (last) return Lookup{dir_, std::move(name), 0};
        return errno_error(ENOENT, "lookup", text_);
      }
      auto inode = fs_.read_inode(*child, "lookup: read inode", text_);
      if (!inode) return inode.error();
      if (inode->is_symlink() && (!last || follow_final)) {
        if (auto st = follow(*child, *inode); !st) return st.error();
        continue;
      }
      if (last) return Lookup{dir_, std::move(name), *child};
      if (!inode->is_dir()) return errno_error(ENOTDIR, "lookup", text_);
      dir_ = *child;
    }
    return errno_error(ENOENT, "lookup", text_);  // not reached: the loop returns on `last`
  }

 private:
  // The inode `name` leads to from dir_, 0 when absent. "." and ".." come from symlink targets.
  Result<Ino> step(const std::string& name) {
    if (name == ".") return dir_;
    if (name == "..") {
      if (dir_ == kRootIno) return kRootIno;
      return lookup_child(fs_, dir_, "..", text_);
    }
    if (name.size() > kNameMax) return errno_error(ENAMETOOLONG, "lookup", text_);
    return lookup_child(fs_, dir_, name, text_);
  }

  Status follow(Ino ino, const Inode& inode) {
    if (++hops_ > kMaxSymlinkHops) return errno_error(ELOOP, "lookup", text_);
    auto target = read_symlink(fs_, ino, inode, text_);
    if (!target) return target.error();
    if (target->empty()) return errno_error(ENOENT, "lookup (empty symlink)", text_);
    if (target->front() == '/') dir_ = kRootIno;
    push_target(pending_, *target);
    return {};
  }

  Ext2Fs& fs_;
  std::string text_;
  std::deque<std::string> pending_;
  Ino dir_ = kRootIno;
  int hops_ = 0;
};

}  // namespace

Result<Lookup> walk(Ext2Fs& fs, const RelPath& path, bool follow_final) {
  return Walker(fs, path).run(follow_final);
}

Result<Lookup> walk_existing(Ext2Fs& fs, const RelPath& path, bool follow_final) {
  auto found = walk(fs, path, follow_final);
  if (found && found->ino == 0) return errno_error(ENOENT, "lookup", path.str());
  return found;
}

Result<Ino> lookup_child(Ext2Fs& fs, Ino dir, std::string_view name, std::string_view path) {
  Ino ino = 0;  // ext2fs_lookup compares exactly name.size() bytes: no NUL needed
  errcode_t err =
      ext2fs_lookup(fs.fs(), dir, name.data(), static_cast<int>(name.size()), nullptr, &ino);
  if (err == EXT2_ET_FILE_NOT_FOUND) return Ino{0};
  if (err) return ext2_error(err, "lookup: ext2fs_lookup", path);
  return ino;
}

Result<std::string> read_symlink(Ext2Fs& fs, Ino ino, const Inode& inode, std::string_view path) {
  uint64_t size = inode.size();
  if (size > kSymlinkMax)
    return make_error(EIO,
                      "readlink " + std::string(path) + ": symlink target too long: run e2fsck");
  Inode copy = inode;  // ext2fs_is_fast_symlink takes a non-const pointer
  if (ext2fs_is_fast_symlink(copy.base()) && !(inode.raw.i_flags & EXT4_INLINE_DATA_FL)) {
    // INVARIANT: a fast symlink's target is stored in i_block (60 bytes) and size < 60.
    const char* text = reinterpret_cast<const char*>(inode.raw.i_block);
    return std::string(text, static_cast<std::size_t>(size));
  }
  std::string target(static_cast<std::size_t>(size), '\0');
  if (inode.raw.i_flags & EXT4_INLINE_DATA_FL) {
    auto got = read_inline_data(
        fs, ino, inode, 0, std::as_writable_bytes(std::span(target.data(), target.size())), path);
    if (!got) return got.error();
    target.resize(*got);
    return target;
  }
  // Slow symlinks: the target is the contents of the first block.
  auto file = open_file_handle(fs.fs(), ino, path);
  if (!file) return file.error();
  unsigned int got = 0;
  errcode_t err =
      ext2fs_file_read(file->get(), target.data(), static_cast<unsigned int>(size), &got);
  if (err) return ext2_error(err, "readlink: ext2fs_file_read", path);
  target.resize(got);
  return target;
}

}  // namespace bridge::guest::ext2
