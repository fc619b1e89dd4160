#include "vm/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace bridge::vm::json {

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  const auto& obj = as_object();
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &it->second;
}

std::string Value::string_at(std::string_view key) const {
  const Value* v = find(key);
  return v && v->is_string() ? v->as_string() : std::string();
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<Value> document() {
    auto v = value(0);
    if (!v) return v;
    skip_ws();
    if (pos_ != s_.size()) return fail("end of input");
    return v;
  }

 private:
  Error fail(std::string_view expected) const {
    return make_error(EINVAL, "malformed JSON at byte " + std::to_string(pos_) + ": expected " +
                                  std::string(expected));
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Result<Value> value(int depth) {
    if (depth > kMaxDepth)
      return fail("less nesting (depth limit " + std::to_string(kMaxDepth) + ")");
    skip_ws();
    if (pos_ >= s_.size()) return fail("a value");
    char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      auto str = string();
      if (!str) return str.error();
      return Value(std::move(str).value());
    }
    if (literal("true")) return Value(true);
    if (literal("false")) return Value(false);
    if (literal("null")) return Value();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return fail("a value");
  }

  Result<Value> object(int depth) {
    ++pos_;  // '{'
    Object obj;
    if (eat('}')) return Value(std::move(obj));
    do {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("a member name");
      auto key = string();
      if (!key) return key.error();
      if (!eat(':')) return fail("':'");
      auto v = value(depth + 1);
      if (!v) return v;
      obj.insert_or_assign(std::move(key).value(), std::move(v).value());
    } while (eat(','));
    if (!eat('}')) return fail("',' or '}'");
    return Value(std::move(obj));
  }

  Result<Value> array(int depth) {
    ++pos_;  // '['
    Array arr;
    if (eat(']')) return Value(std::move(arr));
    do {
      auto v = value(depth + 1);
      if (!v) return v;
      arr.push_back(std::move(v).value());
    } while (eat(','));
    if (!eat(']')) return fail("',' or ']'");
    return Value(std::move(arr));
  }

  Result<Value> number() {
    // RFC 8259 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    std::size_t start = pos_;
    auto digits = [&] {
      std::size_t n = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_, ++n;
      return n;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return fail("digits");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return fail("digits after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return fail("exponent digits");
    }
    // strtod needs a terminated copy; numbers are short.
    std::string copy(s_.substr(start, pos_ - start));
    return Value(std::strtod(copy.c_str(), nullptr));
  }

  Result<unsigned> hex4() {
    if (s_.size() - pos_ < 4) return fail("4 hex digits");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return fail("a hex digit");
    }
    return v;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // A \u escape (the "\u" already consumed), joining a UTF-16 surrogate pair.
  Result<unsigned> code_point() {
    auto hi = hex4();
    if (!hi) return hi;
    if (*hi < 0xD800 || *hi > 0xDFFF) return hi;
    if (*hi > 0xDBFF || !literal("\\u")) return fail("a low surrogate after a high one");
    auto lo = hex4();
    if (!lo) return lo;
    if (*lo < 0xDC00 || *lo > 0xDFFF) return fail("a low surrogate");
    return 0x10000 + ((*hi - 0xD800) << 10) + (*lo - 0xDC00);
  }

  Result<std::string> string() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return fail("no control characters in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          auto cp = code_point();
          if (!cp) return cp.error();
          put_utf8(out, *cp);
          break;
        }
        default:
          return fail("a valid escape");
      }
    }
    return fail("a closing '\"'");
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

void emit_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void emit_to(std::string& out, const Value& v) {
  if (v.is_null()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_number()) {
    double n = v.as_number();
    char buf[32];
    // Integers (all QMP uses) print without a fraction; NaN/inf have no JSON form.
    if (!std::isfinite(n))
      out += "null";
    else if (n == std::trunc(n) && std::fabs(n) < 9.007199254740992e15)
      out += std::to_string(static_cast<long long>(n));
    else
      out += (std::snprintf(buf, sizeof buf, "%.17g", n), buf);
  } else if (v.is_string()) {
    emit_string(out, v.as_string());
  } else if (v.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& e : v.as_array()) {
      if (!std::exchange(first, false)) out += ',';
      emit_to(out, e);
    }
    out += ']';
  } else {
    out += '{';
    bool first = true;
    for (const auto& [k, e] : v.as_object()) {
      if (!std::exchange(first, false)) out += ',';
      emit_string(out, k);
      out += ':';
      emit_to(out, e);
    }
    out += '}';
  }
}

}  // namespace

Result<Value> parse(std::string_view text) {
  return Parser(text).document();
}

std::string emit(const Value& value) {
  std::string out;
  emit_to(out, value);
  return out;
}

}  // namespace bridge::vm::json
