// Result<T>: a value or a located error, for every fallible parse in nfemu.
//
// Parsers never throw; they return Result and the caller decides whether to
// stop. An Error carries its position so that the CLI can print the
// compiler-style `FILE:LINE:COL: error: WHAT` users expect.
//
//   Result<int> r = parse_port("80");
//   if (!r) return r.error();
//   use(*r);
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nfemu {

struct Error {
  std::string message;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based; 0 when unknown
  // The file the position refers to when it is not the one the caller
  // reads (a rules file named by a scenario); empty otherwise.
  std::string file;

  // "FILE:LINE:COL: error: MESSAGE" with the parts that are known; FILE is
  // `file` when set, else the argument.
  std::string format(std::string_view file) const;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  Error& error() { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

inline Error make_error(std::string message, int line = 0, int col = 0) {
  return Error{std::move(message), line, col};
}

}  // namespace nfemu
