#include "bridge-guest/export_spec.h"

#include <gtest/gtest.h>

namespace bridge::guest {
namespace {

TEST(ExportSpec, Parses) {
  auto s = parse_export_spec("ext4=ext2fs:/dev/vdb");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "ext4");
  EXPECT_EQ(s->engine, "ext2fs");
  EXPECT_EQ(s->source, "/dev/vdb");
  EXPECT_FALSE(s->read_only);
  auto ro = parse_export_spec("backup=ext2fs:/img/a:b.img,ro");
  ASSERT_TRUE(ro.ok());
  EXPECT_EQ(ro->source, "/img/a:b.img");
  EXPECT_TRUE(ro->read_only);
}

TEST(ExportSpec, RefusesWithTheExpectedForm) {
  for (const char* bad : {"ext4", "ext4=ext2fs", "=ext2fs:/x", "ext4=zfs:/x", "ext4=ext2fs:",
                          "Ext4=ext2fs:/x", "../x=ext2fs:/x", ".hidden=ext2fs:/x"}) {
    auto s = parse_export_spec(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.error().context.find("NAME=ENGINE:SOURCE"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace bridge::guest
