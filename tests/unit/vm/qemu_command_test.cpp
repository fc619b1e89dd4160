#include "vm/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace bridge::vm {
namespace {

// The value following `flag` at its n-th occurrence, or "" when absent.
std::string after(const std::vector<std::string>& argv, const std::string& flag, int n = 0) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag && n-- == 0) return argv[i + 1];
  return "";
}

bool has(const std::vector<std::string>& argv, const std::string& arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

VmSpec sample() {
  VmSpec spec;
  spec.name = "fs";
  spec.kernel = "/img/bzImage";
  spec.initrd = "/img/initramfs.cpio.gz";
  spec.disks = {"/data/ext4.img", "/data/btrfs.img"};
  spec.append = "console=ttyS0 quiet";
  spec.vsock_socket = "/run/rb/vsock.sock";
  return spec;
}

TEST(QemuCommand, ProvenFlagsForTheVhostUserVm) {
  auto argv = qemu_argv(sample(), StatePaths("/run/rb/vms/fs"));
  EXPECT_EQ(argv.front(), "qemu-system-x86_64");
  EXPECT_EQ(after(argv, "-accel"), "tcg");
  EXPECT_TRUE(has(argv, "-nodefaults"));
  EXPECT_TRUE(has(argv, "-nographic"));
  EXPECT_FALSE(has(argv, "-daemonize"));  // the manager detaches it and keeps its pid
  EXPECT_EQ(after(argv, "-m"), "512M");
  EXPECT_EQ(after(argv, "-smp"), "1");
  EXPECT_EQ(after(argv, "-object"), "memory-backend-memfd,id=mem,size=512M,share=on");
  EXPECT_EQ(after(argv, "-numa"), "node,memdev=mem");
  EXPECT_EQ(after(argv, "-chardev"), "socket,id=vu,path=/run/rb/vsock.sock");
  EXPECT_EQ(after(argv, "-device"), "vhost-user-vsock-pci,chardev=vu");
  EXPECT_EQ(after(argv, "-serial"), "file:/run/rb/vms/fs/console.log");
  EXPECT_EQ(after(argv, "-qmp"), "unix:/run/rb/vms/fs/qmp.sock,server=on,wait=off");
  EXPECT_EQ(after(argv, "-pidfile"), "/run/rb/vms/fs/pid");
  EXPECT_EQ(after(argv, "-kernel"), "/img/bzImage");
  EXPECT_EQ(after(argv, "-initrd"), "/img/initramfs.cpio.gz");
  EXPECT_EQ(after(argv, "-append"), "console=ttyS0 quiet");
  EXPECT_EQ(after(argv, "-drive", 0), "file=/data/ext4.img,if=virtio,format=raw");
  EXPECT_EQ(after(argv, "-drive", 1), "file=/data/btrfs.img,if=virtio,format=raw");
  EXPECT_EQ(after(argv, "-drive", 2), "");
  EXPECT_FALSE(has(argv, "ivshmem-plain,memdev=region"));
}

TEST(QemuCommand, SizesAndOptionalParts) {
  VmSpec spec = sample();
  spec.mem_mib = 1024;
  spec.cpus = 2;
  spec.initrd.clear();
  spec.append.clear();
  auto argv = qemu_argv(spec, StatePaths("/s"), "/opt/qemu");
  EXPECT_EQ(argv.front(), "/opt/qemu");
  EXPECT_EQ(after(argv, "-m"), "1024M");
  EXPECT_EQ(after(argv, "-smp"), "2");
  EXPECT_EQ(after(argv, "-object"), "memory-backend-memfd,id=mem,size=1024M,share=on");
  EXPECT_FALSE(has(argv, "-initrd"));
  EXPECT_FALSE(has(argv, "-append"));
}

TEST(QemuCommand, DisplayDevices) {
  VmSpec spec = sample();
  spec.display = Display::kBochs;
  EXPECT_TRUE(has(qemu_argv(spec, StatePaths("/s")), "bochs-display"));
  spec.display = Display::kVirtioGpu;
  EXPECT_TRUE(has(qemu_argv(spec, StatePaths("/s")), "virtio-gpu-pci"));
  spec.display = Display::kNone;
  auto argv = qemu_argv(spec, StatePaths("/s"));
  EXPECT_FALSE(has(argv, "bochs-display") || has(argv, "virtio-gpu-pci"));
}

TEST(QemuCommand, SharedRegionIsAnIvshmemFileBackend) {
  VmSpec spec = sample();
  spec.region_mib = 64;
  auto argv = qemu_argv(spec, StatePaths("/run/rb/vms/fs"));
  EXPECT_EQ(after(argv, "-object", 1),
            "memory-backend-file,id=region,mem-path=/run/rb/vms/fs/region,size=64M,share=on");
  EXPECT_TRUE(has(argv, "ivshmem-plain,memdev=region"));
  // bridge-host's region file, so both map the memory holding its token.
  spec.region_file = "/dev/shm/rb/fs.region";
  argv = qemu_argv(spec, StatePaths("/run/rb/vms/fs"));
  EXPECT_TRUE(
      has(argv, "memory-backend-file,id=region,mem-path=/dev/shm/rb/fs.region,size=64M,share=on"));
}

TEST(QemuCommand, CommasInPathsAreEscaped) {
  EXPECT_EQ(qemu_escape("a,b,,c"), "a,,b,,,,c");
  VmSpec spec = sample();
  spec.disks = {"/data/a,b.img"};
  spec.vsock_socket = "/run/x,y.sock";
  auto argv = qemu_argv(spec, StatePaths("/s,t"));
  EXPECT_EQ(after(argv, "-drive"), "file=/data/a,,b.img,if=virtio,format=raw");
  EXPECT_EQ(after(argv, "-chardev"), "socket,id=vu,path=/run/x,,y.sock");
  EXPECT_EQ(after(argv, "-qmp"), "unix:/s,,t/qmp.sock,server=on,wait=off");
}

}  // namespace
}  // namespace bridge::vm
