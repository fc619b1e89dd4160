// TEST DOUBLE: MemoryFsScheme, an in-memory bridge::FsScheme for frontend tests. No guest, no
// wire, no disk: a tree of nodes behind one mutex with just enough POSIX semantics for the
// FUSE frontend tests. It enforces the FsScheme contract a real scheme relies on (no read or
// write above max_io(), readdir paged by cookie) and has knobs a real guest cannot offer on
// demand: go offline (EIO), block reads, throw from the next call. Not for production use.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "schemes/fs_scheme.h"

namespace bridge::test {

class MemoryFsScheme final : public FsScheme {
 public:
  struct Options {
    std::size_t max_io = 64 * 1024;
    uint32_t max_dir_page = 100;  // entries per readdir page at most, whatever the caller asks
    bool read_only = false;
  };
  struct Counters {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t oversized_io = 0;  // reads/writes above max_io(): contract violations
    std::size_t max_read = 0;
    std::size_t max_write = 0;
    uint64_t readdirs = 0;
    uint64_t getattrs = 0;  // by path; fgetattr is not counted
    uint64_t getxattrs = 0;
  };

  MemoryFsScheme() : MemoryFsScheme(Options{}) {}
  explicit MemoryFsScheme(Options options);
  ~MemoryFsScheme() override;

  bool read_only() const override { return options_.read_only; }
  std::size_t max_io() const override { return options_.max_io; }
  Result<Attr> getattr(const RelPath& path, bool follow) override;
  Result<Attr> fgetattr(FileId file) override;
  Result<Attr> setattr(const RelPath& path, const SetAttr& changes) override;
  Result<Attr> fsetattr(FileId file, const SetAttr& changes) override;
  Result<OpenedFile> open(const RelPath& path, const OpenFlags& flags, uint32_t mode,
                          const Creds& creds) override;
  Result<std::size_t> read(FileId file, uint64_t offset, std::span<std::byte> out) override;
  Result<std::size_t> write(FileId file, uint64_t offset, std::span<const std::byte> data) override;
  Status fsync(FileId file, bool data_only) override;
  Status close(FileId file) override;
  Result<DirPage> readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                          bool with_attrs) override;
  Result<Attr> mkdir(const RelPath& path, uint32_t mode, const Creds& creds) override;
  Status unlink(const RelPath& path) override;
  Status rmdir(const RelPath& path) override;
  Status rename(const RelPath& from, const RelPath& to, RenameFlags flags) override;
  Result<Attr> symlink(const RelPath& path, std::string_view target, const Creds& creds) override;
  Result<std::string> readlink(const RelPath& path) override;
  Result<Attr> link(const RelPath& existing, const RelPath& new_path) override;
  Result<StatFs> statfs() override;
  Result<std::vector<uint8_t>> getxattr(const RelPath& path, std::string_view name) override;
  Status setxattr(const RelPath& path, std::string_view name, std::span<const uint8_t> value,
                  XattrSetFlags flags) override;
  Result<std::vector<std::string>> listxattr(const RelPath& path) override;
  Status removexattr(const RelPath& path, std::string_view name) override;

  // Test controls; all thread-safe.
  void set_online(bool online);      // offline: every call fails EIO, as for a lost guest
  void set_block_reads(bool block);  // reads wait (holding no lock) until unblocked
  bool wait_for_blocked_read(std::chrono::milliseconds timeout);
  void throw_on_next_call();  // the next FsScheme call throws std::runtime_error
  // Setup behind the frontend's back (the kernel caches nothing about these yet).
  Status add_dir(std::string_view path);
  Status add_file(std::string_view path, std::string_view content);
  std::optional<std::string> file_content(std::string_view path) const;
  std::size_t open_files() const;
  Counters counters() const;
  void reset_counters();

 private:
  struct Node;
  using NodePtr = std::shared_ptr<Node>;
  struct OpenState {
    NodePtr node;
    OpenFlags flags;
  };
  struct Slot {  // a name in a directory: the directory and the leaf
    NodePtr dir;
    std::string name;
    NodePtr existing;  // null when the name is free
  };

  Status enter();  // injected throw, offline check
  Status writable() const;
  void wait_while_reads_blocked();
  Result<NodePtr> lookup(const RelPath& path) const;
  Result<Slot> slot(const RelPath& path) const;
  Result<OpenState*> find_open(FileId file);
  NodePtr make_node(uint32_t mode, const Creds& creds);
  Result<Attr> apply(Node& node, const SetAttr& changes);
  Result<NodePtr> add_node(std::string_view path, uint32_t mode);

  const Options options_;
  mutable std::mutex mu_;  // guards root_, files_, next_*, counters_; taken after gate_mu_
  NodePtr root_;
  std::map<FileId, OpenState> files_;
  uint64_t next_ino_ = 2;
  FileId next_file_ = 100;
  Counters counters_;

  std::mutex gate_mu_;  // guards reads_blocked_ and blocked_readers_
  std::condition_variable gate_cv_;
  bool reads_blocked_ = false;
  int blocked_readers_ = 0;

  std::atomic<bool> online_{true};
  std::atomic<bool> throw_next_{false};
};

}  // namespace bridge::test
