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
#include "common/shared_region.h"

namespace bridge::guest {

// Where the shared region comes from (--region).
enum class RegionSource {
  automatic,  // unix: links: the memfd the host passes with its hello; others: `fixed`
  none,       // always inline
  fixed,      // only `fixed` (an ivshmem BAR or a file named on the command line)
};

struct SessionOptions {
  Endpoint host;
  RegionSource region_source = RegionSource::automatic;
  // Mapped once at start (a VM's ivshmem BAR2, or --region PATH); nullptr when there is none.
  std::shared_ptr<const SharedRegion> fixed_region;
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

  using RegionPtr = std::shared_ptr<const SharedRegion>;

  asio::awaitable<Status> serve(std::shared_ptr<FramedStream> stream);
  // The hellos; on success, the region both sides announced with the same size (or nullptr).
  asio::awaitable<Result<RegionPtr>> exchange_hello(FramedStream& stream);
  // The region this guest can offer on `stream`, before its hello (may peek at a passed fd).
  asio::awaitable<RegionPtr> region_for(FramedStream& stream);
  void on_message(frame::Frame frame, const std::shared_ptr<FramedStream>& stream,
                  const RegionPtr& region);
  // Requests hold the region, so a mapping outlives every request that may write into it.
  void schedule(std::size_t export_index, frame::Frame frame, std::shared_ptr<FramedStream> stream,
                RegionPtr region);
  void run_request(frame::Frame& frame, FramedStream& stream, const RegionPtr& region);
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
