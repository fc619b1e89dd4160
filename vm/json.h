// A small JSON value, parser and emitter: the subset QMP speaks (RFC 8259 objects, arrays,
// strings with \u escapes, numbers, true/false/null). QMP messages are small and come from a
// process we started, but a broken or hostile QEMU must still not crash us: nesting depth and
// input size are bounded and every malformed input is an error, never UB.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace bridge::vm::json {

class Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value, std::less<>>;

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int n) : v_(static_cast<double>(n)) {}
  Value(std::int64_t n) : v_(static_cast<double>(n)) {}
  Value(double n) : v_(n) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  bool is_null() const { return v_.index() == 0; }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_number() const { return std::holds_alternative<double>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }

  // Typed access; the caller checks the kind first (asserted, a bug otherwise).
  bool as_bool() const { return std::get<bool>(v_); }
  double as_number() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }

  // Member `key` of an object, or nullptr (not an object, or no such member).
  const Value* find(std::string_view key) const;
  // The string member `key`, or empty when absent or not a string.
  std::string string_at(std::string_view key) const;

  bool operator==(const Value&) const = default;

 private:
  std::variant<std::monostate, bool, double, std::string, Array, Object> v_;
};

inline constexpr int kMaxDepth = 32;

// Parses exactly one JSON value (surrounding whitespace allowed). Errors are EINVAL with the
// byte offset and what was expected.
Result<Value> parse(std::string_view text);
// Compact JSON, one line (QMP frames messages by line).
std::string emit(const Value& value);

}  // namespace bridge::vm::json
