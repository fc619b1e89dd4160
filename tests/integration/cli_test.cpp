// The command-line contract: --help is true, bad arguments and unusable inputs get one clear
// message naming the thing and a non-zero exit.
#include <gtest/gtest.h>

#include "tests/integration/local_bridge.h"

namespace bridge::test {
namespace {

std::string guest() {
  return binary("bridge-guest/bridge-guest");
}
std::string host() {
  return binary("bridge-host/bridge-host");
}
std::string ctl() {
  return binary("tools/bridgectl/bridgectl");
}

TEST(Cli, HelpDescribesTheContract) {
  auto g = run_command(guest() + " --help");
  EXPECT_EQ(g.status, 0);
  EXPECT_NE(g.output.find("--export"), std::string::npos);
  EXPECT_NE(g.output.find("--connect"), std::string::npos);
  auto h = run_command(host() + " --help");
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.output.find("--listen"), std::string::npos);
  EXPECT_NE(h.output.find("--mount"), std::string::npos);
  EXPECT_NE(h.output.find("--control"), std::string::npos);
  auto c = run_command(ctl() + " --help");
  EXPECT_EQ(c.status, 0);
  EXPECT_NE(c.output.find("status"), std::string::npos);
}

TEST(Cli, GuestRefusesBadArguments) {
  auto none = run_command(guest());
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.output.find("--export"), std::string::npos) << none.output;
  auto bad = run_command(guest() + " --export nonsense");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("NAME=ENGINE:SOURCE"), std::string::npos) << bad.output;
  auto engine = run_command(guest() + " --export x=zfs:/dev/null");
  EXPECT_EQ(engine.status, 2);
  EXPECT_NE(engine.output.find("unknown engine 'zfs'"), std::string::npos) << engine.output;
  auto ep = run_command(guest() + " --connect carrier-pigeon:1 --export x=ext2fs:/dev/null");
  EXPECT_EQ(ep.status, 2);
  EXPECT_NE(ep.output.find("carrier-pigeon"), std::string::npos) << ep.output;
}

TEST(Cli, GuestNamesAMissingImage) {
  auto r = run_command(guest() +
                       " --connect unix:/nonexistent.sock --export ext4=ext2fs:/no/such/image.img");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/no/such/image.img"), std::string::npos) << r.output;
}

TEST(Cli, GuestNamesAnImageThatIsNotExt4) {
  LocalBridge scratch;
  auto junk = (scratch.dir() / "junk.img").string();
  run_command("head -c 1048576 /dev/urandom > " + junk);
  auto r = run_command(guest() + " --connect unix:/nonexistent.sock --export ext4=ext2fs:" + junk);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find(junk), std::string::npos) << r.output;
}

TEST(Cli, HostRefusesBadArguments) {
  auto listen = run_command(host() + " --listen bogus:1 --no-mount");
  EXPECT_EQ(listen.status, 2);
  EXPECT_NE(listen.output.find("bogus:1"), std::string::npos) << listen.output;
  auto tcp = run_command(host() + " --listen tcp:0.0.0.0:9 --no-mount");
  EXPECT_EQ(tcp.status, 2);
  EXPECT_NE(tcp.output.find("loopback"), std::string::npos) << tcp.output;
  auto unknown = run_command(host() + " --frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("--frobnicate"), std::string::npos) << unknown.output;
}

TEST(Cli, BridgectlExplainsAnUnreachableHost) {
  auto r = run_command(ctl() + " --control /nonexistent/control.sock status");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("is bridge-host running"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace bridge::test
