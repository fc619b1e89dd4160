#include "vm/vm_spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace bridge::vm {
namespace {

class VmSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vm-spec-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kernel_ = dir_ + "/bzImage";
    disk_ = dir_ + "/disk.img";
    std::ofstream(kernel_) << "k";
    std::ofstream(disk_) << "d";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  VmSpec good() const {
    VmSpec spec;
    spec.name = "fs";
    spec.kernel = kernel_;
    spec.disks = {disk_};
    return spec;
  }

  std::string dir_, kernel_, disk_;
};

TEST_F(VmSpecTest, DefaultsAreValid) {
  VmSpec spec = good();
  EXPECT_EQ(spec.mem_mib, 512u);
  EXPECT_EQ(spec.cpus, 1u);
  EXPECT_EQ(spec.vsock_socket, "/run/redox-bridge/vsock.sock");
  EXPECT_TRUE(validate(spec));
}

TEST_F(VmSpecTest, MissingFilesNameThePath) {
  VmSpec spec = good();
  spec.kernel = dir_ + "/nope";
  auto st = validate(spec);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), ENOENT);
  EXPECT_NE(st.error().context.find("kernel '" + dir_ + "/nope'"), std::string::npos);

  spec = good();
  spec.disks.push_back(dir_ + "/missing.img");
  st = validate(spec);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().context.find("disk '" + dir_ + "/missing.img'"), std::string::npos);

  spec = good();
  spec.initrd = dir_;  // a directory
  st = validate(spec);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().context.find("is a directory"), std::string::npos);
}

TEST_F(VmSpecTest, RegionMustBeAPowerOfTwo) {
  VmSpec spec = good();
  for (unsigned ok : {1u, 2u, 64u, 1024u}) {
    spec.region_mib = ok;
    EXPECT_TRUE(validate(spec)) << ok;
  }
  for (unsigned bad : {3u, 48u, 1000u}) {
    spec.region_mib = bad;
    auto st = validate(spec);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.code(), EINVAL);
    EXPECT_NE(st.error().context.find("power of two"), std::string::npos);
  }
}

TEST_F(VmSpecTest, NamesAreRestricted) {
  for (const char* ok : {"fs", "fs-1", "A.b_c", "0"}) EXPECT_TRUE(validate_name(ok)) << ok;
  for (const char* bad : {"", "a/b", "..", ".hidden", "-x", "a b", "a,b", "é"})
    EXPECT_FALSE(validate_name(bad)) << bad;
  EXPECT_FALSE(validate_name(std::string(65, 'a')));
  VmSpec spec = good();
  spec.name = "../etc";
  EXPECT_EQ(validate(spec).code(), EINVAL);
}

TEST_F(VmSpecTest, NumbersAreBounded) {
  VmSpec spec = good();
  spec.mem_mib = 16;
  EXPECT_FALSE(validate(spec));
  spec = good();
  spec.cpus = 0;
  EXPECT_FALSE(validate(spec));
  spec.cpus = 65;
  EXPECT_FALSE(validate(spec));
  EXPECT_FALSE(set_option(spec, "mem", "12x"));
  EXPECT_FALSE(set_option(spec, "mem", ""));
  EXPECT_FALSE(set_option(spec, "cpus", "-1"));
  EXPECT_FALSE(set_option(spec, "display", "vga"));
  auto st = set_option(spec, "colour", "blue");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().context.find("unknown VM option 'colour'"), std::string::npos);
}

TEST_F(VmSpecTest, LineBreaksAreRefused) {
  VmSpec spec = good();
  spec.append = "quiet\nkernel=/evil";
  EXPECT_FALSE(validate(spec));
}

TEST_F(VmSpecTest, ParsesConfigLinesWithAppendLast) {
  auto spec = parse_spec_line(
      "fs kernel=/k initrd=/i disk=/a.img disk=/b.img mem=256 cpus=2 display=bochs region=16 "
      "region-file=/dev/shm/fs.region "
      "append=console=ttyS0 quiet bridge.export=ext4=ext2fs:/dev/vda");
  ASSERT_TRUE(spec) << spec.error().context;
  EXPECT_EQ(spec->name, "fs");
  EXPECT_EQ(spec->kernel, "/k");
  EXPECT_EQ(spec->initrd, "/i");
  EXPECT_EQ(spec->disks, (std::vector<std::string>{"/a.img", "/b.img"}));
  EXPECT_EQ(spec->mem_mib, 256u);
  EXPECT_EQ(spec->cpus, 2u);
  EXPECT_EQ(spec->display, Display::kBochs);
  EXPECT_EQ(spec->region_mib, 16u);
  EXPECT_EQ(spec->region_file, "/dev/shm/fs.region");
  EXPECT_EQ(spec->append, "console=ttyS0 quiet bridge.export=ext4=ext2fs:/dev/vda");

  EXPECT_FALSE(parse_spec_line(""));
  EXPECT_FALSE(parse_spec_line("fs kernel"));
  EXPECT_FALSE(parse_spec_line("fs mem=lots"));
}

TEST_F(VmSpecTest, TextFormRoundTrips) {
  VmSpec spec = good();
  spec.initrd = kernel_;
  spec.disks.push_back(disk_);
  spec.append = "console=ttyS0  two  spaces";
  spec.display = Display::kVirtioGpu;
  spec.region_mib = 8;
  spec.region_file = "/dev/shm/v.region";
  spec.vsock_socket = "/tmp/v.sock";
  auto back = parse_spec_line(to_spec_line(spec));
  ASSERT_TRUE(back) << back.error().context;
  EXPECT_EQ(*back, spec);
}

}  // namespace
}  // namespace bridge::vm
