// readdir pages. A cookie is a position in the directory plus one (0 means "from the start"):
// the logical block number in the high 32 bits and the entry's byte offset in that block in the
// low 32. Entries never move when others are added or removed (a hashed directory may split a
// leaf, as on the kernel), so a cookie stays valid across changes; an entry added or removed
// meanwhile may or may not be seen.
//
// A page starts at the cookie's block: blocks before it are mapped but never read, so paging
// through a large directory costs about one pass over it, not one pass per page.
#include <optional>
#include <string>
#include <vector>

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

  uint64_t first_block() const { return cookie_ == 0 ? 0 : (cookie_ - 1) >> 32; }

  // Returns false to stop: the page is full (and more entries exist) or an error occurred.
  bool visit(const ext2_dir_entry* dirent, uint64_t pos) {
    if (dirent->inode == 0 || pos < cookie_ || is_dot(dirent)) return true;
    if (page_.entries.size() >= max_) {
      more_ = true;
      return false;
    }
    if (!emit(dirent)) return false;
    page_.next_cookie = pos + 1;
    return true;
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
  bool more_ = false;
  std::optional<Error> error_;
};

// Walks the entries of one directory block, checking each record as the kernel does.
errcode_t visit_block(ext2_filsys fs, char* buf, uint64_t lblk, PageBuilder& builder, bool& stop) {
  unsigned int offset = 0;
  while (offset + 8 <= fs->blocksize) {
    // INVARIANT: offset + 8 <= blocksize, and buf holds a whole directory block, so the fixed
    // part of the entry lies inside buf; the name is bounded by rec_len, checked next.
    auto* dirent = reinterpret_cast<ext2_dir_entry*>(buf + offset);
    unsigned int rec_len = 0;
    ext2fs_get_rec_len(fs, dirent, &rec_len);
    if (rec_len < 8 || rec_len % 4 != 0 || offset + rec_len > fs->blocksize ||
        static_cast<unsigned int>(ext2fs_dirent_name_len(dirent)) + 8 > rec_len)
      return EXT2_ET_DIR_CORRUPTED;
    if (!builder.visit(dirent, (lblk << 32) | offset)) {
      stop = true;
      return 0;
    }
    offset += rec_len;
  }
  return 0;
}

struct BlockWalk {
  ext2_filsys fs;
  Ino dir;
  PageBuilder* builder;
  std::vector<char> buf;
  errcode_t err = 0;
};

int walk_block(ext2_filsys fs, blk64_t* blocknr, e2_blkcnt_t blockcnt, blk64_t, int, void* priv) {
  // INVARIANT: priv is the BlockWalk passed to ext2fs_block_iterate3 in read_by_blocks.
  auto* w = static_cast<BlockWalk*>(priv);
  if (blockcnt < 0 || static_cast<uint64_t>(blockcnt) < w->builder->first_block()) return 0;
  w->err = ext2fs_read_dir_block4(fs, *blocknr, w->buf.data(), 0, w->dir);
  if (w->err) return BLOCK_ABORT;
  bool stop = false;
  w->err = visit_block(fs, w->buf.data(), static_cast<uint64_t>(blockcnt), *w->builder, stop);
  return (w->err || stop) ? BLOCK_ABORT : 0;
}

errcode_t read_by_blocks(ext2_filsys fs, Ino dir, PageBuilder& builder) {
  BlockWalk walk{fs, dir, &builder, std::vector<char>(fs->blocksize)};
  errcode_t err = ext2fs_block_iterate3(fs, dir, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
                                        nullptr, walk_block, &walk);
  return err ? err : walk.err;
}

// Inline-data directories have no blocks: ext2fs_dir_iterate2 presents their two areas (i_block
// and the system.data xattr) as pseudo-blocks, each starting at offset 0, numbered here in order.
errcode_t read_inline(ext2_filsys fs, Ino dir, PageBuilder& builder) {
  struct Inline {
    PageBuilder* builder;
    uint64_t area = 0;
    bool started = false;
  } state{&builder};
  auto fn = [](ext2_ino_t, int, ext2_dir_entry* dirent, int offset, int, char*, void* priv) -> int {
    // INVARIANT: priv is &state, alive for the whole ext2fs_dir_iterate2 call below.
    auto* s = static_cast<Inline*>(priv);
    if (offset == 0) s->area = s->started ? s->area + 1 : 0;
    s->started = true;
    uint64_t pos = (s->area << 32) | static_cast<uint32_t>(offset);
    return s->builder->visit(dirent, pos) ? 0 : DIRENT_ABORT;
  };
  return ext2fs_dir_iterate2(fs, dir, DIRENT_FLAG_INCLUDE_EMPTY, nullptr, fn, &state);
}

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
  errcode_t err = (inode->raw.i_flags & EXT4_INLINE_DATA_FL)
                      ? read_inline(fs.fs(), found->ino, builder)
                      : read_by_blocks(fs.fs(), found->ino, builder);
  if (err) return ext2_error(err, "readdir", text);
  return builder.finish();
}

}  // namespace bridge::guest::ext2
