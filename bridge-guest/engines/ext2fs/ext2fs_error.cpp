#include "bridge-guest/engines/ext2fs/ext2fs_error.h"

#include <et/com_err.h>

#include <cerrno>
#include <cstring>

namespace bridge::guest::ext2 {

namespace {

struct Mapping {
  errcode_t code;
  int err;
};

// Only what callers can act on gets its own errno; the rest is EIO with the message in context.
constexpr Mapping kMappings[] = {
    {EXT2_ET_FILE_NOT_FOUND, ENOENT},
    {EXT2_ET_NO_DIRECTORY, ENOTDIR},
    {EXT2_ET_FILE_EXISTS, EEXIST},
    {EXT2_ET_DIR_EXISTS, EEXIST},
    {EXT2_ET_DIR_NO_SPACE, ENOSPC},
    {EXT2_ET_DIR_NO_SPACE_FOR_CSUM, ENOSPC},
    {EXT2_ET_BLOCK_ALLOC_FAIL, ENOSPC},
    {EXT2_ET_INODE_ALLOC_FAIL, ENOSPC},
    {EXT2_ET_EA_NO_SPACE, ENOSPC},
    {EXT2_ET_INLINE_DATA_NO_SPACE, ENOSPC},
    {EXT2_ET_RO_FILSYS, EROFS},
    {EXT2_ET_FILE_RO, EBADF},
    {EXT2_ET_NO_MEMORY, ENOMEM},
    {EXT2_ET_FILE_TOO_BIG, EFBIG},
    {EXT2_ET_EA_KEY_NOT_FOUND, ENODATA},
    {EXT2_ET_EA_BAD_NAME_LEN, ERANGE},
    {EXT2_ET_SYMLINK_LOOP, ELOOP},
    {EXT2_ET_INVALID_ARGUMENT, EINVAL},
    {EXT2_ET_TOO_MANY_REFS, EMLINK},
    {EXT2_ET_UNIMPLEMENTED, EOPNOTSUPP},
    {EXT2_ET_OP_NOT_SUPPORTED, EOPNOTSUPP},
    {EXT2_ET_MISSING_EA_FEATURE, EOPNOTSUPP},
};

std::string with_context(std::string_view what, std::string_view path, std::string_view detail) {
  std::string out(what);
  if (!path.empty()) {
    out += ' ';
    out += path;
  }
  out += ": ";
  out += detail;
  return out;
}

}  // namespace

int errno_from_errcode(errcode_t err) {
  if (err > 0 && err < 256) return static_cast<int>(err);
  for (const auto& m : kMappings) {
    if (m.code == err) return m.err;
  }
  return EIO;
}

std::string errcode_message(errcode_t err) {
  if (err > 0 && err < 256) return std::strerror(static_cast<int>(err));
  return error_message(err);
}

Error ext2_error(errcode_t err, std::string_view what, std::string_view path) {
  return make_error(errno_from_errcode(err), with_context(what, path, errcode_message(err)));
}

Error errno_error(int code, std::string_view what, std::string_view path) {
  return make_error(code, with_context(what, path, std::strerror(code)));
}

}  // namespace bridge::guest::ext2
