#include "common/endpoint.h"

#include <gtest/gtest.h>

namespace bridge {
namespace {

TEST(Endpoint, ParsesEveryConnectForm) {
  auto u = parse_connect_endpoint("unix:/run/x.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, Endpoint::Kind::unix_socket);
  EXPECT_EQ(u->path, "/run/x.sock");
  auto v = parse_connect_endpoint("vsock:2:5151");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->cid, 2u);
  EXPECT_EQ(v->port, 5151u);
  EXPECT_EQ(v->str(), "vsock:2:5151");
  auto t = parse_connect_endpoint("tcp:127.0.0.1:9000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, 9000u);
}

TEST(Endpoint, ParsesEveryListenForm) {
  EXPECT_EQ(parse_listen_endpoint("vsock:5151")->port, 5151u);
  EXPECT_EQ(parse_listen_endpoint("hybrid:/run/v.sock")->kind, Endpoint::Kind::hybrid);
  auto vu = parse_listen_endpoint("vhost-user:/run/vu.sock,cid=7");
  ASSERT_TRUE(vu.ok());
  EXPECT_EQ(vu->kind, Endpoint::Kind::vhost_user);
  EXPECT_EQ(vu->cid, 7u);
  EXPECT_EQ(vu->path, "/run/vu.sock");
}

TEST(Endpoint, VhostUserTakesASharedRegionFileAndSize) {
  auto vu = parse_listen_endpoint("vhost-user:/run/vu.sock,region=/dev/shm/r,region-size=32,cid=5");
  ASSERT_TRUE(vu.ok()) << vu.error().context;
  EXPECT_EQ(vu->region_path, "/dev/shm/r");
  EXPECT_EQ(vu->region_mib, 32u);
  EXPECT_EQ(vu->cid, 5u);
  EXPECT_EQ(parse_listen_endpoint(vu->str())->region_path, "/dev/shm/r");
  auto plain = parse_listen_endpoint("vhost-user:/run/vu.sock");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->region_path.empty());
  EXPECT_EQ(plain->region_mib, 64u);
  // ivshmem-plain wants a power of two; 0 and absurd sizes are refused too.
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,region=/r,region-size=48").ok());
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,region=/r,region-size=0").ok());
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,region=/r,region-size=32768").ok());
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,region=").ok());
}

TEST(Endpoint, RefusesWithAReason) {
  auto bad = parse_connect_endpoint("vsock:2");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().context.find("vsock:CID:PORT"), std::string::npos);
  EXPECT_FALSE(parse_connect_endpoint("vsock:x:1").ok());
  EXPECT_FALSE(parse_connect_endpoint("unix:").ok());
  EXPECT_FALSE(parse_connect_endpoint("http://x").ok());
  EXPECT_FALSE(parse_listen_endpoint("vsock:99999999999").ok());
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,cid=2").ok());  // 0-2 are reserved
  EXPECT_FALSE(parse_listen_endpoint("vhost-user:/x,size=2").ok());
  auto open_tcp = parse_listen_endpoint("tcp:0.0.0.0:80");
  ASSERT_FALSE(open_tcp.ok());
  EXPECT_NE(open_tcp.error().context.find("loopback"), std::string::npos);
  EXPECT_EQ(parse_connect_endpoint("unix:/" + std::string(200, 'a')).code(), ENAMETOOLONG);
}

}  // namespace
}  // namespace bridge
