#include "bridge-guest/engines/ext2fs/ext2fs_inode.h"

#include <dirent.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstddef>
#include <ctime>

namespace bridge::guest::ext2 {

namespace {

constexpr int kEpochBits = 2;
constexpr uint32_t kEpochMask = (1u << kEpochBits) - 1;
constexpr int64_t kTimeMin = INT32_MIN;
constexpr int64_t kTimeMaxNoExtra = INT32_MAX;
// With two epoch bits the on-disk range extends to 2446.
constexpr int64_t kTimeMaxExtra = INT32_MAX + (int64_t{kEpochMask} << 32);

struct TimeSlots {
  std::size_t sec_offset;
  std::size_t extra_offset;
};

TimeSlots slots(TimeField field) {
  switch (field) {
    case TimeField::atime:
      return {offsetof(ext2_inode_large, i_atime), offsetof(ext2_inode_large, i_atime_extra)};
    case TimeField::mtime:
      return {offsetof(ext2_inode_large, i_mtime), offsetof(ext2_inode_large, i_mtime_extra)};
    case TimeField::ctime:
      return {offsetof(ext2_inode_large, i_ctime), offsetof(ext2_inode_large, i_ctime_extra)};
    case TimeField::crtime:
      break;
  }
  return {offsetof(ext2_inode_large, i_crtime), offsetof(ext2_inode_large, i_crtime_extra)};
}

// A field beyond the 128-byte base exists only when i_extra_isize covers it.
bool fits(const Inode& inode, std::size_t offset) {
  return offset + sizeof(uint32_t) <=
         EXT2_GOOD_OLD_INODE_SIZE + std::size_t{inode.raw.i_extra_isize};
}

uint32_t* field_at(Inode& inode, std::size_t offset) {
  // INVARIANT: offset comes from offsetof() of a __u32 member of ext2_inode_large, so the
  // resulting pointer is that member, correctly typed and aligned.
  return reinterpret_cast<uint32_t*>(reinterpret_cast<unsigned char*>(&inode.raw) + offset);
}

uint32_t field_value(const Inode& inode, std::size_t offset) {
  // INVARIANT: as in field_at.
  return *reinterpret_cast<const uint32_t*>(reinterpret_cast<const unsigned char*>(&inode.raw) +
                                            offset);
}

}  // namespace

uint32_t Inode::uid() const {
  return raw.i_uid | (uint32_t{raw.osd2.linux2.l_i_uid_high} << 16);
}

uint32_t Inode::gid() const {
  return raw.i_gid | (uint32_t{raw.osd2.linux2.l_i_gid_high} << 16);
}

void Inode::set_uid(uint32_t uid) {
  raw.i_uid = static_cast<uint16_t>(uid);
  raw.osd2.linux2.l_i_uid_high = static_cast<uint16_t>(uid >> 16);
}

void Inode::set_gid(uint32_t gid) {
  raw.i_gid = static_cast<uint16_t>(gid);
  raw.osd2.linux2.l_i_gid_high = static_cast<uint16_t>(gid >> 16);
}

Timestamp now() {
  timespec ts{};
  // INVARIANT: CLOCK_REALTIME always exists, so this cannot fail; ts is a local.
  clock_gettime(CLOCK_REALTIME, &ts);
  return Timestamp{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

Timestamp get_time(const Inode& inode, TimeField field) {
  auto s = slots(field);
  if (!fits(inode, s.sec_offset)) return {};
  Timestamp t{static_cast<int32_t>(field_value(inode, s.sec_offset)), 0};
  if (fits(inode, s.extra_offset)) {
    uint32_t extra = field_value(inode, s.extra_offset);
    t.sec += int64_t{extra & kEpochMask} << 32;
    t.nsec = extra >> kEpochBits;
  }
  return t;
}

void set_time(Inode& inode, TimeField field, Timestamp t) {
  auto s = slots(field);
  if (!fits(inode, s.sec_offset)) return;
  bool extra = fits(inode, s.extra_offset);
  int64_t sec = std::clamp(t.sec, kTimeMin, extra ? kTimeMaxExtra : kTimeMaxNoExtra);
  *field_at(inode, s.sec_offset) = static_cast<uint32_t>(sec);
  if (!extra) return;
  // The epoch bits extend the signed 32-bit seconds: (sec - (int32)sec) >> 32.
  auto epoch = static_cast<uint32_t>((sec - static_cast<int32_t>(sec)) >> 32) & kEpochMask;
  *field_at(inode, s.extra_offset) = epoch | (std::min<uint32_t>(t.nsec, 999999999) << kEpochBits);
}

void touch_contents(Inode& inode, Timestamp t) {
  set_time(inode, TimeField::mtime, t);
  set_time(inode, TimeField::ctime, t);
}

uint16_t new_extra_isize(ext2_filsys fs) {
  std::size_t inode_size = EXT2_INODE_SIZE(fs->super);
  if (inode_size <= EXT2_GOOD_OLD_INODE_SIZE) return 0;
  return static_cast<uint16_t>(std::min(sizeof(ext2_inode_large), inode_size) -
                               EXT2_GOOD_OLD_INODE_SIZE);
}

int dirent_type_from_mode(uint32_t mode) {
  switch (mode & LINUX_S_IFMT) {
    case LINUX_S_IFREG:
      return EXT2_FT_REG_FILE;
    case LINUX_S_IFDIR:
      return EXT2_FT_DIR;
    case LINUX_S_IFLNK:
      return EXT2_FT_SYMLINK;
    case LINUX_S_IFCHR:
      return EXT2_FT_CHRDEV;
    case LINUX_S_IFBLK:
      return EXT2_FT_BLKDEV;
    case LINUX_S_IFIFO:
      return EXT2_FT_FIFO;
    case LINUX_S_IFSOCK:
      return EXT2_FT_SOCK;
  }
  return EXT2_FT_UNKNOWN;
}

uint8_t dt_from_dirent_type(int ext2_type) {
  switch (ext2_type) {
    case EXT2_FT_REG_FILE:
      return DT_REG;
    case EXT2_FT_DIR:
      return DT_DIR;
    case EXT2_FT_SYMLINK:
      return DT_LNK;
    case EXT2_FT_CHRDEV:
      return DT_CHR;
    case EXT2_FT_BLKDEV:
      return DT_BLK;
    case EXT2_FT_FIFO:
      return DT_FIFO;
    case EXT2_FT_SOCK:
      return DT_SOCK;
  }
  return DT_UNKNOWN;
}

uint8_t dt_from_mode(uint32_t mode) {
  return dt_from_dirent_type(dirent_type_from_mode(mode));
}

namespace {

// Device numbers live in i_block: the old 8:8 encoding in i_block[0], else the new 12:20 one in
// i_block[1] (the same choice the kernel makes).
uint64_t device_number(const Inode& inode) {
  uint32_t old_dev = inode.raw.i_block[0];
  if (old_dev != 0) return makedev((old_dev >> 8) & 0xff, old_dev & 0xff);
  uint32_t dev = inode.raw.i_block[1];
  return makedev((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
}

}  // namespace

Attr to_attr(ext2_filsys fs, Ino ino, const Inode& inode) {
  Attr a;
  a.ino = ino;
  a.mode = inode.raw.i_mode;
  a.nlink = inode.raw.i_links_count;
  a.uid = inode.uid();
  a.gid = inode.gid();
  a.size = inode.size();
  Inode copy = inode;  // ext2fs_get_stat_i_blocks takes a non-const pointer
  a.blocks = ext2fs_get_stat_i_blocks(fs, copy.base());
  a.blksize = fs->blocksize;
  uint32_t type = inode.type();
  if (type == LINUX_S_IFCHR || type == LINUX_S_IFBLK) a.rdev = device_number(inode);
  a.atime = get_time(inode, TimeField::atime);
  a.mtime = get_time(inode, TimeField::mtime);
  a.ctime = get_time(inode, TimeField::ctime);
  return a;
}

}  // namespace bridge::guest::ext2
