// A child process for integration tests: spawned with its output in a log file, signalled,
// waited for with a deadline, and killed if the test forgets it. Test support only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bridge::test {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with its stdout and stderr appended to log_path.
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // The exit status (or 128+signal) if the process ended within `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not ended after `grace`. Returns the exit status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command and captures its output.
CommandResult run_command(const std::string& command);

// Polls `ready` until it is true or `timeout` passes.
template <typename Pred>
bool wait_until(Pred ready, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    struct timespec ts {
      0, 50'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return ready();
}

std::string read_file(const std::string& path);

}  // namespace bridge::test
