#include "schema/errno_map.h"

#include <gtest/gtest.h>

#include <capnp/schema.h>

#include <cerrno>
#include <set>

namespace bridge {
namespace {

using wire::Errno;

// Every enumerant the schema declares, so a new one without a mapping fails here.
std::vector<Errno> all_wire_errnos() {
  std::vector<Errno> out;
  for (auto e : capnp::Schema::from<Errno>().getEnumerants())
    out.push_back(static_cast<Errno>(e.getOrdinal()));
  return out;
}

TEST(ErrnoMap, EveryWireValueRoundTrips) {
  const auto all = all_wire_errnos();
  ASSERT_EQ(all.size(), 33u);
  std::set<int> locals;
  for (Errno e : all) {
    const int local = from_wire_errno(e);
    if (e != Errno::IO) {
      EXPECT_NE(local, EIO) << "unmapped wire errno " << static_cast<int>(e);
    }
    EXPECT_EQ(to_wire_errno(local), e) << static_cast<int>(e);
    locals.insert(local);
  }
  EXPECT_EQ(locals.size(), all.size()) << "two wire values share a local errno";
}

TEST(ErrnoMap, NamedPairs) {
  EXPECT_EQ(from_wire_errno(Errno::OK), 0);
  EXPECT_EQ(from_wire_errno(Errno::NOENT), ENOENT);
  EXPECT_EQ(from_wire_errno(Errno::NOTSUP), EOPNOTSUPP);
  EXPECT_EQ(from_wire_errno(Errno::TOOBIG), E2BIG);
  EXPECT_EQ(from_wire_errno(Errno::STALE), ESTALE);
  EXPECT_EQ(from_wire_errno(Errno::FAULT), EFAULT);
  EXPECT_EQ(to_wire_errno(0), Errno::OK);
  EXPECT_EQ(to_wire_errno(EPROTO), Errno::PROTO);
  EXPECT_EQ(to_wire_errno(ECANCELED), Errno::CANCELED);
}

TEST(ErrnoMap, AliasesMapToOneWireValue) {
  EXPECT_EQ(to_wire_errno(EOPNOTSUPP), Errno::NOTSUP);
  EXPECT_EQ(to_wire_errno(ENOTSUP), Errno::NOTSUP);
  EXPECT_EQ(to_wire_errno(EAGAIN), Errno::AGAIN);
  EXPECT_EQ(to_wire_errno(EWOULDBLOCK), Errno::AGAIN);
}

TEST(ErrnoMap, UnknownValuesBecomeIo) {
  for (int local : {-1, 4095, EHOSTDOWN, ENOTCONN, ETXTBSY})
    EXPECT_EQ(to_wire_errno(local), Errno::IO);
  for (uint16_t raw : {33, 200, 0xFFFF}) EXPECT_EQ(from_wire_errno(static_cast<Errno>(raw)), EIO);
}

}  // namespace
}  // namespace bridge
