// The copy routine shared by the drm dispatch, the self-test and the native benchmark.
#include "bridge-guest/engines/drm/pixel_copy.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace bridge::guest {
namespace {

constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();

TEST(PixelCopy, ClipRectKeepsTheInsideAndNeverWraps) {
  auto r = clip_rect(90, 40, 64, 64, 100, 50);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->width, 10u);
  EXPECT_EQ(r->height, 10u);
  EXPECT_FALSE(clip_rect(100, 0, 1, 1, 100, 50));
  EXPECT_FALSE(clip_rect(0, 0, 0, 5, 100, 50));
  auto wrap = clip_rect(kMax - 1, 0, kMax, 1, kMax, 1);
  ASSERT_TRUE(wrap);
  EXPECT_EQ(wrap->width, 1u);
  auto big = clip_rect(1, 1, kMax, kMax, 100, 50);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->width, 99u);
  EXPECT_EQ(big->height, 49u);
}

TEST(PixelCopy, CheckImageIsOverflowSafe) {
  EXPECT_TRUE(check_image(400 * 50, 100, 50, 400, "t").ok());
  EXPECT_EQ(check_image(400 * 50 - 1, 100, 50, 400, "t").code(), EFAULT);
  EXPECT_EQ(check_image(1 << 20, 100, 50, 399, "t").code(), EINVAL);
  EXPECT_EQ(check_image(std::numeric_limits<uint64_t>::max() - 1, kMax, kMax, kMax, "t").code(),
            EINVAL);  // width * 4 > any 32-bit pitch
  EXPECT_EQ(check_image(uint64_t{1} << 40, 1, kMax, kMax, "t").code(), EFAULT);
}

TEST(PixelCopy, CopiesRowsBetweenDifferentPitches) {
  const uint32_t w = 8, h = 4, sp = 40, dp = 64;
  std::vector<std::byte> src(sp * h), dst(dp * h, std::byte{0});
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(i);
  PixelRect r{2, 1, 3, 2};
  copy_rects(ConstPixelImage{src, w, h, sp}, PixelImage{dst, w, h, dp}, std::span(&r, 1));
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w * 4; ++x) {
      const bool inside = y >= 1 && y < 3 && x >= 8 && x < 20;
      EXPECT_EQ(dst[y * dp + x], inside ? src[y * sp + x] : std::byte{0}) << x << "," << y;
    }
}

}  // namespace
}  // namespace bridge::guest
