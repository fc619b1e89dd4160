// A minimal synchronous QMP client over a unix socket.
//
// QMP wire format (QEMU's docs/interop/qmp-spec): each message is one JSON object on one line.
// The server greets with {"QMP": {...}}; the client must send {"execute":"qmp_capabilities"}
// before anything else. A command {"execute": C, "arguments": A, "id": N} is answered by
// {"return": R, "id": N} or {"error": {"class": K, "desc": D}, "id": N}. Asynchronous events
// {"event": E, ...} may arrive at any time, including between a command and its answer: they
// are skipped here.
//
// Every read has a deadline; a silent, slow or vanished server is an error naming the command,
// never a hang.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vm/json.h"

namespace bridge::vm {

class QmpClient {
 public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kDefaultTimeout{5000};

  // Connects, reads the greeting and negotiates capabilities, all within `timeout`.
  static Result<QmpClient> connect(const std::string& socket_path,
                                   Duration timeout = kDefaultTimeout);

  QmpClient(QmpClient&&) = default;
  QmpClient& operator=(QmpClient&&) = default;

  // Runs `command` with `arguments` (an object, or null for none) and returns its "return"
  // value. A QMP error becomes EIO with "qmp COMMAND: CLASS: DESC".
  Result<json::Value> execute(const std::string& command, const json::Value& arguments = {});

  // "running", "paused", "shutdown", "inmigrate", ... (query-status's "status").
  Result<std::string> query_status();
  Status stop();
  Status cont();
  // Asks QEMU to exit. QEMU may close the socket before or after answering; both are success.
  Status quit();
  Status system_powerdown();
  Status system_reset();
  // Writes the display's current frame to `path` (PPM) on the QEMU side; `device` selects a
  // display device by QOM id, empty for the default one.
  Status screendump(const std::string& path, const std::string& device = {});

  void set_timeout(Duration timeout) { timeout_ = timeout; }

 private:
  QmpClient(UniqueFd fd, std::string where, Duration timeout)
      : fd_(std::move(fd)), where_(std::move(where)), timeout_(timeout) {}

  using Clock = std::chrono::steady_clock;
  // The next complete message (one line), within `deadline`.
  Result<json::Value> read_message(Clock::time_point deadline, const std::string& what);
  Status send_line(const std::string& line, Clock::time_point deadline, const std::string& what);
  Status expect_empty(const std::string& command);

  UniqueFd fd_;
  std::string where_;  // socket path, for messages
  Duration timeout_;
  std::string buffer_;  // bytes read past the last complete line
  long long next_id_ = 1;
};

}  // namespace bridge::vm
