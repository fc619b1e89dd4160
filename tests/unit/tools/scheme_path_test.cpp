#include "tools/bridgectl/scheme_path.h"

#include <gtest/gtest.h>

namespace bridge::ctl {
namespace {

TEST(SchemePath, BothFormsMeanTheSame) {
  auto legacy = parse_scheme_path("ext4:/home/file");
  auto ns = parse_scheme_path("/scheme/ext4/home/file");
  ASSERT_TRUE(legacy.ok());
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(legacy->scheme, "ext4");
  EXPECT_EQ(ns->scheme, "ext4");
  EXPECT_EQ(legacy->path, ns->path);
  EXPECT_EQ(legacy->str(), "ext4:/home/file");
}

TEST(SchemePath, SchemeRoots) {
  EXPECT_TRUE(parse_scheme_path("ext4:")->path.is_root());
  EXPECT_TRUE(parse_scheme_path("/scheme/ext4")->path.is_root());
  EXPECT_EQ(parse_scheme_path("display.bochs:/card0")->scheme, "display.bochs");
}

TEST(SchemePath, RefusesWhatIsNotOne) {
  EXPECT_EQ(parse_scheme_path("home/file").code(), EINVAL);
  EXPECT_EQ(parse_scheme_path("/scheme/").code(), EINVAL);
  EXPECT_EQ(parse_scheme_path("EXT4:/x").code(), EINVAL);
  EXPECT_EQ(parse_scheme_path("ext4:/../etc").code(), EINVAL);
}

}  // namespace
}  // namespace bridge::ctl
