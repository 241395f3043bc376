//===- status.h - Status and StatusOr for the Gecko runtime -----*- C++ -*-===//
//
// Every fallible runtime API returns a Status or a StatusOr<T>; exceptions
// never cross the API. Tools turn a non-OK status into a message and an exit
// code. This header has no dependencies beyond the C++17 standard library.
//
//===----------------------------------------------------------------------===//

#ifndef GECKO_RUNTIME_STATUS_H
#define GECKO_RUNTIME_STATUS_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace gecko {

/// Broad error classes, chosen so a caller can react without parsing text.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    ///< The caller passed something malformed.
  kNotFound,           ///< A named file, tensor or function does not exist.
  kDataLoss,           ///< A file is truncated, corrupt or fails its checksum.
  kFailedPrecondition, ///< The object is not in a state that allows the call.
  kUnimplemented,      ///< A valid request this build cannot serve.
  kResourceExhausted,  ///< Out of memory (host or device).
  kUnavailable,        ///< A device or library is absent on this machine.
  kInternal,           ///< A bug in Gecko: an invariant broke.
  kDeadlineExceeded,   ///< An operation (a collective) did not finish in time.
};

/// Returns a short stable name such as "INVALID_ARGUMENT".
const char *statusCodeName(StatusCode code);

/// An error code with a human-readable message. The OK status carries no
/// message and costs nothing to copy.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }

  /// "INVALID_ARGUMENT: message" (or "OK").
  std::string toString() const;

  /// Returns a copy whose message is prefixed with `context: `.
  Status withContext(const std::string &context) const;

private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalidArgument(std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg));
}
inline Status notFound(std::string msg) {
  return Status(StatusCode::kNotFound, std::move(msg));
}
inline Status dataLoss(std::string msg) {
  return Status(StatusCode::kDataLoss, std::move(msg));
}
inline Status failedPrecondition(std::string msg) {
  return Status(StatusCode::kFailedPrecondition, std::move(msg));
}
inline Status unimplemented(std::string msg) {
  return Status(StatusCode::kUnimplemented, std::move(msg));
}
inline Status resourceExhausted(std::string msg) {
  return Status(StatusCode::kResourceExhausted, std::move(msg));
}
inline Status unavailable(std::string msg) {
  return Status(StatusCode::kUnavailable, std::move(msg));
}
inline Status internalError(std::string msg) {
  return Status(StatusCode::kInternal, std::move(msg));
}
inline Status deadlineExceeded(std::string msg) {
  return Status(StatusCode::kDeadlineExceeded, std::move(msg));
}

/// Either a value or a non-OK Status.
template <typename T> class [[nodiscard]] StatusOr {
public:
  StatusOr(Status status) : status_(std::move(status)) {
    assert(!status_.isOk() && "StatusOr built from an OK status");
  }
  StatusOr(T value) : value_(std::move(value)) {}

  bool isOk() const { return status_.isOk(); }
  explicit operator bool() const { return isOk(); }
  const Status &status() const { return status_; }

  T &value() & {
    assert(isOk());
    return *value_;
  }
  const T &value() const & {
    assert(isOk());
    return *value_;
  }
  T &&value() && {
    assert(isOk());
    return std::move(*value_);
  }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }

private:
  Status status_;
  std::optional<T> value_;
};

} // namespace gecko

#define GECKO_STATUS_CONCAT_INNER(a, b) a##b
#define GECKO_STATUS_CONCAT(a, b) GECKO_STATUS_CONCAT_INNER(a, b)

/// Returns from the enclosing function if `expr` yields a non-OK Status.
#define GECKO_RETURN_IF_ERROR(expr)                                            \
  do {                                                                         \
    ::gecko::Status gecko_status_tmp_ = (expr);                                \
    if (!gecko_status_tmp_.isOk())                                             \
      return gecko_status_tmp_;                                                \
  } while (false)

/// `GECKO_ASSIGN_OR_RETURN(auto x, makeX());` unwraps a StatusOr or returns
/// its error from the enclosing function.
#define GECKO_ASSIGN_OR_RETURN(lhs, expr)                                      \
  GECKO_ASSIGN_OR_RETURN_IMPL(GECKO_STATUS_CONCAT(gecko_statusor_, __LINE__),  \
                              lhs, expr)
#define GECKO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                            \
  auto tmp = (expr);                                                           \
  if (!tmp.isOk())                                                             \
    return tmp.status();                                                       \
  lhs = std::move(tmp).value()

#endif // GECKO_RUNTIME_STATUS_H
