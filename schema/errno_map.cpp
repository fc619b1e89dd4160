#include "schema/errno_map.h"

#include <cerrno>
#include <cstddef>
#include <iterator>
#include <utility>

namespace bridge {
namespace {

using wire::Errno;

// One row per wire::Errno, in ordinal order, so that decoding is an index and encoding a scan.
// A new enumerant without a row maps to EIO; errno_map_test walks the schema's enumerants and
// fails on exactly that.
constexpr std::pair<Errno, int> kTable[] = {
    {Errno::OK, 0},
    {Errno::PERM, EPERM},
    {Errno::NOENT, ENOENT},
    {Errno::IO, EIO},
    {Errno::BADF, EBADF},
    {Errno::NOMEM, ENOMEM},
    {Errno::ACCES, EACCES},
    {Errno::BUSY, EBUSY},
    {Errno::EXIST, EEXIST},
    {Errno::XDEV, EXDEV},
    {Errno::NOTDIR, ENOTDIR},
    {Errno::ISDIR, EISDIR},
    {Errno::INVAL, EINVAL},
    {Errno::FBIG, EFBIG},
    {Errno::NOSPC, ENOSPC},
    {Errno::ROFS, EROFS},
    {Errno::MLINK, EMLINK},
    {Errno::RANGE, ERANGE},
    {Errno::NAMETOOLONG, ENAMETOOLONG},
    {Errno::NOSYS, ENOSYS},
    {Errno::NOTEMPTY, ENOTEMPTY},
    {Errno::LOOP, ELOOP},
    {Errno::NODATA, ENODATA},
    {Errno::OVERFLOW, EOVERFLOW},
    {Errno::NOTSUP, EOPNOTSUPP},
    {Errno::TIMEDOUT, ETIMEDOUT},
    {Errno::STALE, ESTALE},
    {Errno::CANCELED, ECANCELED},
    {Errno::PROTO, EPROTO},
    {Errno::TOOBIG, E2BIG},
    {Errno::AGAIN, EAGAIN},
    {Errno::NODEV, ENODEV},
    {Errno::FAULT, EFAULT},
};

constexpr bool table_is_in_ordinal_order() {
  for (std::size_t i = 0; i < std::size(kTable); ++i) {
    if (static_cast<std::size_t>(kTable[i].first) != i) return false;
  }
  return true;
}
static_assert(table_is_in_ordinal_order(), "kTable row i must hold wire::Errno ordinal i");

}  // namespace

wire::Errno to_wire_errno(int local_errno) {
  // Aliases first: on Linux these pairs are equal, elsewhere (Redox, BSDs) they may not be.
  if (local_errno == ENOTSUP) return Errno::NOTSUP;
  if (local_errno == EWOULDBLOCK) return Errno::AGAIN;
  for (const auto& [wire_value, local] : kTable) {
    if (local == local_errno) return wire_value;
  }
  return Errno::IO;
}

int from_wire_errno(wire::Errno value) {
  // A newer peer may send an ordinal we do not know: report EIO rather than guess.
  const auto index = static_cast<std::size_t>(value);
  if (index >= std::size(kTable)) return EIO;
  return kTable[index].second;
}

}  // namespace bridge
