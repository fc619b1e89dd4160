// VmSupervisor: keeps one boot-time VM (a `vm` line of bridge-host's config) running. A thread
// of its own starts QEMU through vm::VmManager, waits for it to exit, and starts it again with
// exponential backoff (1 s doubling to 30 s; back to 1 s after a minute of uptime). stop() asks
// QEMU to quit over QMP (SIGKILL after the manager's stop timeout) and joins the thread.
//
// The thread blocks (QMP waits, process polls): it must never be the io_context's thread, which
// has to answer QEMU's vhost-user handshake while QEMU starts.
#pragma once

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "vm/vm_manager.h"
#include "vm/vm_spec.h"

namespace bridge::host {

class VmSupervisor {
 public:
  VmSupervisor(vm::ManagerOptions options, vm::VmSpec spec);
  ~VmSupervisor() { stop(); }
  VmSupervisor(const VmSupervisor&) = delete;
  VmSupervisor& operator=(const VmSupervisor&) = delete;

  void start();
  // Stops the VM and waits for the thread. Idempotent.
  void stop();

 private:
  void supervise(std::stop_token stop);
  // Sleeps `delay` unless stop is requested first; false when stopping.
  bool pause_for(std::stop_token stop, std::chrono::seconds delay);

  vm::VmManager manager_;
  vm::VmSpec spec_;
  std::mutex mutex_;  // guards nothing but the wait in pause_for (cv needs one)
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace bridge::host
