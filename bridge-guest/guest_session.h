// The guest's connection to the host: dial, say hello, serve requests, and redial with backoff
// when the host goes away. Requests run on a worker pool; an export whose engine is not
// parallel() gets a strand of its own so its calls never overlap.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "bridge-guest/dispatcher.h"
#include "common/asio.h"
#include "common/endpoint.h"
#include "common/framed_stream.h"

namespace bridge::guest {

struct SessionOptions {
  Endpoint host;
  std::string name = "guest";
  unsigned workers = 4;
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::seconds hello_timeout{10};
};

class GuestSession {
 public:
  GuestSession(asio::io_context& io, Dispatcher& dispatcher, SessionOptions options);
  ~GuestSession();

  // Runs until stop(): connect, serve, reconnect.
  asio::awaitable<void> run();
  // From the io_context thread (the signal handler runs there).
  void stop();
  // Waits for requests already running on the workers.
  void drain();

 private:
  using PoolExecutor = asio::thread_pool::executor_type;

  asio::awaitable<Status> serve(std::shared_ptr<FramedStream> stream);
  asio::awaitable<Status> exchange_hello(FramedStream& stream);
  void on_message(frame::Frame frame, const std::shared_ptr<FramedStream>& stream);
  void schedule(std::size_t export_index, frame::Frame frame, std::shared_ptr<FramedStream> stream);
  void run_request(frame::Frame& frame, FramedStream& stream);
  bool take_canceled(uint64_t id);
  void drop_handles();

  asio::io_context& io_;
  Dispatcher& dispatcher_;
  SessionOptions options_;
  asio::thread_pool pool_;
  std::vector<asio::strand<PoolExecutor>> strands_;  // one per export, used when not parallel
  asio::steady_timer backoff_timer_;
  std::shared_ptr<FramedStream> current_;  // io_context thread only
  bool stopping_ = false;                  // io_context thread only

  std::mutex canceled_mu_;  // guards canceled_; leaf lock
  std::unordered_set<uint64_t> canceled_;
};

}  // namespace bridge::guest
