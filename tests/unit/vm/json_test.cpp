#include "vm/json.h"

#include <gtest/gtest.h>

namespace bridge::vm::json {
namespace {

TEST(Json, ParsesQmpMessages) {
  auto v = parse(R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}},
                     "capabilities": ["oob"]}})");
  ASSERT_TRUE(v) << v.error().context;
  const Value* qmp = v->find("QMP");
  ASSERT_TRUE(qmp && qmp->is_object());
  EXPECT_EQ(qmp->find("version")->find("qemu")->find("major")->as_number(), 7);
  EXPECT_EQ(qmp->find("capabilities")->as_array().at(0).as_string(), "oob");
}

TEST(Json, ScalarsAndEscapes) {
  EXPECT_EQ(*parse("true"), Value(true));
  EXPECT_EQ(*parse(" null "), Value());
  EXPECT_EQ(parse("-1.5e2")->as_number(), -150);
  EXPECT_EQ(parse(R"("a\"b\\c\n\u00e9\ud83d\ude00")")->as_string(),
            "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Json, RefusesMalformedInput) {
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":}", "[1,]", "[1 2]", "01", "-", "1.", "\"abc",
                          "\"\\x\"", "\"\\ud83d\"", "tru", "{} {}", "\"a\nb\""}) {
    auto v = parse(bad);
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.code(), EINVAL) << bad;
  }
}

TEST(Json, NestingIsBounded) {
  EXPECT_TRUE(parse(std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']')));
  EXPECT_FALSE(parse(std::string(100000, '[') + std::string(100000, ']')));
}

TEST(Json, EmitsCompactOneLineJson) {
  Object obj{{"execute", "screendump"},
             {"arguments", Object{{"filename", "/tmp/a\"b.ppm"}, {"n", 3}}},
             {"list", Array{Value(true), Value(), Value(0.5)}}};
  std::string text = emit(obj);
  EXPECT_EQ(text, R"({"arguments":{"filename":"/tmp/a\"b.ppm","n":3},"execute":"screendump",)"
                  R"("list":[true,null,0.5]})");
  EXPECT_EQ(*parse(text), Value(obj));
  EXPECT_EQ(emit(Value("line\nbreak\x01")), R"("line\nbreak\u0001")");
}

}  // namespace
}  // namespace bridge::vm::json
