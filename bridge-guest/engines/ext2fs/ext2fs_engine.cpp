// The FsEngine face of the ext2fs engine: a thin table from interface methods to the operations
// in ext2fs_ops.h.
#include "bridge-guest/engines/ext2fs/ext2fs_engine.h"

#include <utility>

#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest {

namespace {

class Ext2fsEngine final : public FsEngine {
 public:
  explicit Ext2fsEngine(std::shared_ptr<ext2::Ext2Fs> fs) : fs_(std::move(fs)) {}

  std::string_view engine_name() const override { return "ext2fs"; }
  bool parallel() const override { return false; }
  bool read_only() const override { return fs_->read_only(); }
  std::string note() const override { return fs_->note(); }

  Result<Attr> getattr(const RelPath& path, bool follow) override {
    return ext2::op_getattr(*fs_, path, follow);
  }
  Result<Attr> setattr(const RelPath& path, const SetAttr& changes) override {
    if (auto st = writable("setattr", path); !st) return st.error();
    return fs_->checked(ext2::op_setattr(*fs_, path, changes));
  }
  Result<std::unique_ptr<OpenFile>> open(const RelPath& path, const OpenFlags& flags,
                                         uint32_t create_mode, const Creds& creds) override {
    return fs_->checked(ext2::op_open(fs_, path, flags, create_mode, creds));
  }
  Result<DirPage> readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                          bool with_attrs) override {
    return ext2::op_readdir(*fs_, dir, cookie, max_entries, with_attrs);
  }
  Result<Attr> mkdir(const RelPath& path, uint32_t mode, const Creds& creds) override {
    if (auto st = writable("mkdir", path); !st) return st.error();
    return fs_->checked(ext2::op_mkdir(*fs_, path, mode, creds));
  }
  Status unlink(const RelPath& path) override {
    if (auto st = writable("unlink", path); !st) return st;
    return fs_->checked(ext2::op_unlink(*fs_, path));
  }
  Status rmdir(const RelPath& path) override {
    if (auto st = writable("rmdir", path); !st) return st;
    return fs_->checked(ext2::op_rmdir(*fs_, path));
  }
  Status rename(const RelPath& from, const RelPath& to, RenameFlags flags) override {
    if (auto st = writable("rename", from); !st) return st;
    return fs_->checked(ext2::op_rename(*fs_, from, to, flags));
  }
  Result<Attr> symlink(const RelPath& path, std::string_view target, const Creds& creds) override {
    if (auto st = writable("symlink", path); !st) return st.error();
    return fs_->checked(ext2::op_symlink(*fs_, path, target, creds));
  }
  Result<std::string> readlink(const RelPath& path) override {
    return ext2::op_readlink(*fs_, path);
  }
  Result<Attr> link(const RelPath& existing, const RelPath& new_path) override {
    if (auto st = writable("link", new_path); !st) return st.error();
    return fs_->checked(ext2::op_link(*fs_, existing, new_path));
  }
  Result<StatFs> statfs() override { return ext2::op_statfs(*fs_); }
  Result<std::vector<uint8_t>> getxattr(const RelPath& path, std::string_view name) override {
    return ext2::op_getxattr(*fs_, path, name);
  }
  Status setxattr(const RelPath& path, std::string_view name, std::span<const uint8_t> value,
                  XattrSetFlags flags) override {
    if (auto st = writable("setxattr", path); !st) return st;
    return fs_->checked(ext2::op_setxattr(*fs_, path, name, value, flags));
  }
  Result<std::vector<std::string>> listxattr(const RelPath& path) override {
    return ext2::op_listxattr(*fs_, path);
  }
  Status removexattr(const RelPath& path, std::string_view name) override {
    if (auto st = writable("removexattr", path); !st) return st;
    return fs_->checked(ext2::op_removexattr(*fs_, path, name));
  }
  Status sync() override { return fs_->checked(fs_->sync()); }

 private:
  // A read-only export answers EROFS before looking at anything else, as a read-only mount does.
  Status writable(std::string_view what, const RelPath& path) const {
    return fs_->check_writable(what, path.str());
  }

  // Shared with every open file, so the filesystem is closed after the last of them.
  std::shared_ptr<ext2::Ext2Fs> fs_;
};

}  // namespace

Result<std::unique_ptr<FsEngine>> open_ext2fs_engine(const std::string& source, bool read_only) {
  auto fs = ext2::Ext2Fs::open(source, read_only);
  if (!fs) return fs.error();
  return std::unique_ptr<FsEngine>(std::make_unique<Ext2fsEngine>(std::move(fs).value()));
}

}  // namespace bridge::guest
