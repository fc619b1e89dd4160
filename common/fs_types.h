// Filesystem value types shared by guest engines and host schemes. They are plain C++ so that
// engines and frontends never touch Cap'n Proto; schema/fs_codec.h converts at the wire edge.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bridge {

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;
  bool operator==(const Timestamp&) const = default;
};

struct Attr {
  uint64_t ino = 0;
  uint32_t mode = 0;  // S_IF* type bits and permission bits, Linux encoding
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units
  uint32_t blksize = 4096;
  uint64_t rdev = 0;
  Timestamp atime, mtime, ctime;
};

// A time to set: absent (leave), now, or a given instant.
struct TimeSet {
  enum class Kind { omit, now, at } kind = Kind::omit;
  Timestamp at;
};

struct SetAttr {
  std::optional<uint32_t> mode;  // permission bits only
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;
  TimeSet atime, mtime;
};

struct OpenFlags {
  bool read = true;
  bool write = false;
  bool append = false;
  bool truncate = false;
  bool create = false;
  bool exclusive = false;
  bool directory = false;
  bool no_follow = false;
};

struct Creds {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;  // DT_*
  Attr attr;         // filled when attributes were asked for
};

struct DirPage {
  std::vector<DirEntry> entries;
  uint64_t next_cookie = 0;
  bool end = false;
};

struct StatFs {
  uint32_t block_size = 0;
  uint32_t fragment_size = 0;
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;
  uint64_t blocks_available = 0;
  uint64_t files = 0;
  uint64_t files_free = 0;
  uint32_t name_max = 255;
};

struct RenameFlags {
  bool no_replace = false;
  bool exchange = false;
};

struct XattrSetFlags {
  bool create_only = false;
  bool replace_only = false;
};

// A btrfs subvolume, as `bridgectl subvol list` shows it.
struct SubvolInfo {
  uint64_t id = 0;
  uint64_t parent_id = 0;
  std::string path;  // relative to the export root, no leading '/'
  bool read_only = false;
  uint64_t generation = 0;
  std::vector<uint8_t> uuid;         // 16 bytes
  std::vector<uint8_t> parent_uuid;  // 16 bytes; all zero unless a snapshot
};

}  // namespace bridge
