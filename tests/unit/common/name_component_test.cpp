#include "common/name_component.h"

#include <gtest/gtest.h>

namespace bridge {
namespace {

TEST(NameComponent, RefusesWhatIsNotAName) {
  for (const char* bad : {"", ".", "..", "a/b", "/"}) {
    auto r = NameComponent::parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.code(), EINVAL) << bad;
  }
  EXPECT_EQ(NameComponent::parse(std::string_view("a\0b", 3)).code(), EINVAL);
  EXPECT_EQ(NameComponent::parse(std::string(256, 'x')).code(), ENAMETOOLONG);
  EXPECT_TRUE(NameComponent::parse(std::string(255, 'x')).ok());
}

TEST(RelPath, ParsesAbsoluteAndRelativeTheSame) {
  auto a = RelPath::parse("/home//user/./file");
  auto b = RelPath::parse("home/user/file/");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->str(), "/home/user/file");
  EXPECT_EQ(a->leaf().str(), "file");
  EXPECT_EQ(a->parent().str(), "/home/user");
}

TEST(RelPath, RootIsEmpty) {
  auto root = RelPath::parse("/");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->is_root());
  EXPECT_EQ(root->str(), "/");
}

TEST(RelPath, RefusesDotDot) {
  EXPECT_EQ(RelPath::parse("/a/../../etc/passwd").code(), EINVAL);
  EXPECT_EQ(RelPath::parse("..").code(), EINVAL);
}

TEST(RelPath, BoundsComponentCount) {
  std::string deep;
  for (int i = 0; i < 257; ++i) deep += "/d";
  EXPECT_EQ(RelPath::parse(deep).code(), ENAMETOOLONG);
}

}  // namespace
}  // namespace bridge
