// Result<T>: an expected outcome as a value (kj's tryX() style). Failure is a POSIX errno in the
// numbering of the process that holds it, plus optional context for logs. C++20 has no
// std::expected, so this is the small subset the project needs.
#pragma once

#include <cassert>
#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace bridge {

struct Error {
  int code = EIO;       // errno, local numbering
  std::string context;  // what was being done, for logs
};

inline Error make_error(int code, std::string context = {}) {
  return Error{code, std::move(context)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  int code() const { return ok() ? 0 : error().code; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }
  int code() const { return ok_ ? 0 : error_.code; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace bridge
