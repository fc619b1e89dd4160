// TEST DOUBLE: see memory_fs_scheme.h.
#include "tests/unit/bridge-host/memory_fs_scheme.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace bridge::test {

struct MemoryFsScheme::Node {
  Attr attr;
  std::vector<std::byte> data;                           // regular files
  std::string target;                                    // symlinks
  std::map<std::string, NodePtr, std::less<>> children;  // directories
  std::map<std::string, std::vector<uint8_t>, std::less<>> xattrs;

  bool is_dir() const { return S_ISDIR(attr.mode); }
  bool is_reg() const { return S_ISREG(attr.mode); }
};

namespace {

Timestamp now() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return {.sec = ts.tv_sec, .nsec = static_cast<uint32_t>(ts.tv_nsec)};
}

Timestamp resolve_time(const TimeSet& set, Timestamp current) {
  switch (set.kind) {
    case TimeSet::Kind::omit:
      return current;
    case TimeSet::Kind::now:
      return now();
    case TimeSet::Kind::at:
      return set.at;
  }
  return current;
}

}  // namespace

MemoryFsScheme::MemoryFsScheme(Options options) : options_(options) {
  root_ = make_node(S_IFDIR | 0755, Creds{});
  root_->attr.ino = 1;
}

MemoryFsScheme::~MemoryFsScheme() = default;

// --- helpers (mu_ held unless said otherwise) ---

Status MemoryFsScheme::enter() {
  if (throw_next_.exchange(false)) throw std::runtime_error("MemoryFsScheme: injected failure");
  if (!online_) return make_error(EIO, "scheme offline");
  return {};
}

Status MemoryFsScheme::writable() const {
  if (options_.read_only) return make_error(EROFS, "read-only scheme");
  return {};
}

MemoryFsScheme::NodePtr MemoryFsScheme::make_node(uint32_t mode, const Creds& creds) {
  auto node = std::make_shared<Node>();
  const Timestamp t = now();
  node->attr = Attr{.ino = next_ino_++,
                    .mode = mode,
                    .nlink = S_ISDIR(mode) ? 2u : 1u,
                    .uid = creds.uid,
                    .gid = creds.gid,
                    .atime = t,
                    .mtime = t,
                    .ctime = t};
  return node;
}

Result<MemoryFsScheme::NodePtr> MemoryFsScheme::lookup(const RelPath& path) const {
  NodePtr node = root_;
  for (const auto& part : path.components()) {
    if (!node->is_dir()) return make_error(ENOTDIR, "not a directory");
    auto it = node->children.find(part.str());
    if (it == node->children.end()) return make_error(ENOENT, "no such entry");
    node = it->second;
  }
  return node;
}

Result<MemoryFsScheme::Slot> MemoryFsScheme::slot(const RelPath& path) const {
  if (path.is_root()) return make_error(EBUSY, "the export root");
  auto dir = lookup(path.parent());
  if (!dir) return dir.error();
  if (!(*dir)->is_dir()) return make_error(ENOTDIR, "parent is not a directory");
  Slot out;
  out.dir = *dir;
  out.name = path.leaf().str();
  if (auto it = out.dir->children.find(out.name); it != out.dir->children.end())
    out.existing = it->second;
  return out;
}

Result<MemoryFsScheme::OpenState*> MemoryFsScheme::find_open(FileId file) {
  auto it = files_.find(file);
  if (it == files_.end()) return make_error(EBADF, "unknown file");
  return &it->second;
}

Result<Attr> MemoryFsScheme::apply(Node& node, const SetAttr& changes) {
  if (changes.size) {
    if (node.is_dir()) return make_error(EISDIR, "truncate of a directory");
    if (!node.is_reg()) return make_error(EINVAL, "truncate of a special file");
    node.data.resize(*changes.size);
    node.attr.size = *changes.size;
    node.attr.mtime = now();
  }
  if (changes.mode) node.attr.mode = (node.attr.mode & S_IFMT) | (*changes.mode & 07777);
  if (changes.uid) node.attr.uid = *changes.uid;
  if (changes.gid) node.attr.gid = *changes.gid;
  node.attr.atime = resolve_time(changes.atime, node.attr.atime);
  node.attr.mtime = resolve_time(changes.mtime, node.attr.mtime);
  node.attr.ctime = now();
  return node.attr;
}

// --- attributes ---

Result<Attr> MemoryFsScheme::getattr(const RelPath& path, bool follow) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  ++counters_.getattrs;
  auto node = lookup(path);
  if (!node) return node.error();
  if (follow && S_ISLNK((*node)->attr.mode)) {
    // One hop, relative to the link's directory: enough for a test double.
    auto target = RelPath::parse((*node)->target);
    if (!target) return target.error();
    RelPath resolved = path.parent();
    for (const auto& part : target->components()) resolved = resolved.child(part);
    node = lookup(resolved);
    if (!node) return node.error();
  }
  return (*node)->attr;
}

Result<Attr> MemoryFsScheme::fgetattr(FileId file) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto open = find_open(file);
  if (!open) return open.error();
  return (*open)->node->attr;
}

Result<Attr> MemoryFsScheme::setattr(const RelPath& path, const SetAttr& changes) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(path);
  if (!node) return node.error();
  return apply(**node, changes);
}

Result<Attr> MemoryFsScheme::fsetattr(FileId file, const SetAttr& changes) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto open = find_open(file);
  if (!open) return open.error();
  return apply(*(*open)->node, changes);
}

// --- open files ---

Result<OpenedFile> MemoryFsScheme::open(const RelPath& path, const OpenFlags& flags, uint32_t mode,
                                        const Creds& creds) {
  if (auto ok = enter(); !ok) return ok.error();
  if (flags.write || flags.create || flags.truncate) {
    if (auto ok = writable(); !ok) return ok.error();
  }
  std::lock_guard lock(mu_);
  NodePtr node;
  if (path.is_root()) {
    node = root_;
  } else {
    auto place = slot(path);
    if (!place) return place.error();
    if (place->existing && flags.create && flags.exclusive) return make_error(EEXIST, "exists");
    if (!place->existing && !flags.create) return make_error(ENOENT, "no such file");
    node = place->existing;
    if (!node) {
      node = make_node(S_IFREG | (mode & 07777), creds);
      place->dir->children[place->name] = node;
      place->dir->attr.mtime = place->dir->attr.ctime = now();
    }
  }
  if (S_ISLNK(node->attr.mode)) return make_error(ELOOP, "symlink");
  if (node->is_dir() && flags.write) return make_error(EISDIR, "directory");
  if (flags.directory && !node->is_dir()) return make_error(ENOTDIR, "not a directory");
  if (flags.truncate && flags.write && node->is_reg()) {
    node->data.clear();
    node->attr.size = 0;
    node->attr.mtime = now();
  }
  const FileId id = next_file_++;
  files_[id] = OpenState{.node = node, .flags = flags};
  return OpenedFile{.id = id, .attr = node->attr};
}

void MemoryFsScheme::wait_while_reads_blocked() {
  std::unique_lock lock(gate_mu_);
  if (!reads_blocked_) return;
  ++blocked_readers_;
  gate_cv_.notify_all();
  gate_cv_.wait(lock, [&] { return !reads_blocked_; });
  --blocked_readers_;
}

Result<std::size_t> MemoryFsScheme::read(FileId file, uint64_t offset, std::span<std::byte> out) {
  wait_while_reads_blocked();
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  ++counters_.reads;
  counters_.max_read = std::max(counters_.max_read, out.size());
  if (out.size() > options_.max_io) {
    ++counters_.oversized_io;
    return make_error(EINVAL, "read above max_io");
  }
  auto open = find_open(file);
  if (!open) return open.error();
  if (!(*open)->flags.read) return make_error(EBADF, "not open for reading");
  const Node& node = *(*open)->node;
  if (node.is_dir()) return make_error(EISDIR, "directory");
  if (offset >= node.data.size()) return std::size_t{0};
  const std::size_t n = std::min<std::size_t>(out.size(), node.data.size() - offset);
  std::memcpy(out.data(), node.data.data() + offset, n);
  return n;
}

Result<std::size_t> MemoryFsScheme::write(FileId file, uint64_t offset,
                                          std::span<const std::byte> data) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  ++counters_.writes;
  counters_.max_write = std::max(counters_.max_write, data.size());
  if (data.size() > options_.max_io) {
    ++counters_.oversized_io;
    return make_error(EINVAL, "write above max_io");
  }
  auto open = find_open(file);
  if (!open) return open.error();
  if (!(*open)->flags.write) return make_error(EBADF, "not open for writing");
  Node& node = *(*open)->node;
  if ((*open)->flags.append) offset = node.data.size();
  if (offset + data.size() > node.data.size()) node.data.resize(offset + data.size());
  std::memcpy(node.data.data() + offset, data.data(), data.size());
  node.attr.size = node.data.size();
  node.attr.mtime = node.attr.ctime = now();
  return data.size();
}

Status MemoryFsScheme::fsync(FileId file, bool) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto open = find_open(file);
  if (!open) return open.error();
  return {};
}

Status MemoryFsScheme::close(FileId file) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  if (files_.erase(file) == 0) return make_error(EBADF, "unknown file");
  return {};
}

// --- directories and names ---

Result<DirPage> MemoryFsScheme::readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                                        bool with_attrs) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  ++counters_.readdirs;
  auto node = lookup(dir);
  if (!node) return node.error();
  if (!(*node)->is_dir()) return make_error(ENOTDIR, "not a directory");
  const auto& children = (*node)->children;
  // The cookie is a position in name order: stable enough for a test double.
  DirPage page;
  auto it = children.begin();
  std::advance(it, std::min<std::size_t>(cookie, children.size()));
  const uint32_t limit = std::min(max_entries, options_.max_dir_page);
  for (; it != children.end() && page.entries.size() < limit; ++it) {
    DirEntry entry;
    entry.name = it->first;
    entry.ino = it->second->attr.ino;
    entry.type = static_cast<uint8_t>(IFTODT(it->second->attr.mode));
    if (with_attrs) entry.attr = it->second->attr;
    page.entries.push_back(std::move(entry));
  }
  page.next_cookie = cookie + page.entries.size();
  page.end = it == children.end();
  return page;
}

Result<Attr> MemoryFsScheme::mkdir(const RelPath& path, uint32_t mode, const Creds& creds) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto place = slot(path);
  if (!place) return place.error().code == EBUSY ? make_error(EEXIST, "root") : place.error();
  if (place->existing) return make_error(EEXIST, "exists");
  auto node = make_node(S_IFDIR | (mode & 07777), creds);
  place->dir->children[place->name] = node;
  ++place->dir->attr.nlink;
  return node->attr;
}

Status MemoryFsScheme::unlink(const RelPath& path) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto place = slot(path);
  if (!place) return place.error();
  if (!place->existing) return make_error(ENOENT, "no such entry");
  if (place->existing->is_dir()) return make_error(EISDIR, "directory");
  place->dir->children.erase(place->name);
  --place->existing->attr.nlink;
  place->existing->attr.ctime = now();
  return {};
}

Status MemoryFsScheme::rmdir(const RelPath& path) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto place = slot(path);
  if (!place) return place.error();
  if (!place->existing) return make_error(ENOENT, "no such entry");
  if (!place->existing->is_dir()) return make_error(ENOTDIR, "not a directory");
  if (!place->existing->children.empty()) return make_error(ENOTEMPTY, "not empty");
  place->dir->children.erase(place->name);
  --place->dir->attr.nlink;
  return {};
}

Status MemoryFsScheme::rename(const RelPath& from, const RelPath& to, RenameFlags flags) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto src = slot(from);
  if (!src) return src.error();
  auto dst = slot(to);
  if (!dst) return dst.error();
  if (!src->existing) return make_error(ENOENT, "no such entry");
  const auto& a = from.components();
  const auto& b = to.components();
  if (b.size() > a.size() && std::equal(a.begin(), a.end(), b.begin()))
    return make_error(EINVAL, "into its own subtree");
  if (flags.exchange) {
    if (!dst->existing) return make_error(ENOENT, "no such entry");
    std::swap(src->dir->children[src->name], dst->dir->children[dst->name]);
    return {};
  }
  if (dst->existing) {
    if (flags.no_replace) return make_error(EEXIST, "exists");
    if (dst->existing == src->existing) return {};
    if (src->existing->is_dir() && !dst->existing->is_dir()) return make_error(ENOTDIR, "file");
    if (!src->existing->is_dir() && dst->existing->is_dir()) return make_error(EISDIR, "dir");
    if (dst->existing->is_dir() && !dst->existing->children.empty())
      return make_error(ENOTEMPTY, "not empty");
  }
  NodePtr moving = src->existing;
  src->dir->children.erase(src->name);
  dst->dir->children[dst->name] = moving;
  moving->attr.ctime = now();
  return {};
}

Result<Attr> MemoryFsScheme::symlink(const RelPath& path, std::string_view target,
                                     const Creds& creds) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto place = slot(path);
  if (!place) return place.error();
  if (place->existing) return make_error(EEXIST, "exists");
  auto node = make_node(S_IFLNK | 0777, creds);
  node->target = std::string(target);
  node->attr.size = target.size();
  place->dir->children[place->name] = node;
  return node->attr;
}

Result<std::string> MemoryFsScheme::readlink(const RelPath& path) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(path);
  if (!node) return node.error();
  if (!S_ISLNK((*node)->attr.mode)) return make_error(EINVAL, "not a symlink");
  return (*node)->target;
}

Result<Attr> MemoryFsScheme::link(const RelPath& existing, const RelPath& new_path) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(existing);
  if (!node) return node.error();
  if ((*node)->is_dir()) return make_error(EPERM, "hard link to a directory");
  auto place = slot(new_path);
  if (!place) return place.error();
  if (place->existing) return make_error(EEXIST, "exists");
  place->dir->children[place->name] = *node;
  ++(*node)->attr.nlink;
  (*node)->attr.ctime = now();
  return (*node)->attr;
}

Result<StatFs> MemoryFsScheme::statfs() {
  if (auto ok = enter(); !ok) return ok.error();
  return StatFs{.block_size = 4096,
                .fragment_size = 4096,
                .blocks = 1u << 20,
                .blocks_free = 1u << 19,
                .blocks_available = 1u << 18,
                .files = 1u << 16,
                .files_free = 1u << 15,
                .name_max = 255};
}

// --- extended attributes ---

Result<std::vector<uint8_t>> MemoryFsScheme::getxattr(const RelPath& path, std::string_view name) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  ++counters_.getxattrs;
  auto node = lookup(path);
  if (!node) return node.error();
  auto it = (*node)->xattrs.find(name);
  if (it == (*node)->xattrs.end()) return make_error(ENODATA, "no such attribute");
  return it->second;
}

Status MemoryFsScheme::setxattr(const RelPath& path, std::string_view name,
                                std::span<const uint8_t> value, XattrSetFlags flags) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(path);
  if (!node) return node.error();
  auto& xattrs = (*node)->xattrs;
  const bool exists = xattrs.find(name) != xattrs.end();
  if (flags.create_only && exists) return make_error(EEXIST, "attribute exists");
  if (flags.replace_only && !exists) return make_error(ENODATA, "no such attribute");
  xattrs[std::string(name)] = std::vector<uint8_t>(value.begin(), value.end());
  return {};
}

Result<std::vector<std::string>> MemoryFsScheme::listxattr(const RelPath& path) {
  if (auto ok = enter(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(path);
  if (!node) return node.error();
  std::vector<std::string> names;
  for (const auto& [name, value] : (*node)->xattrs) names.push_back(name);
  return names;
}

Status MemoryFsScheme::removexattr(const RelPath& path, std::string_view name) {
  if (auto ok = enter(); !ok) return ok.error();
  if (auto ok = writable(); !ok) return ok.error();
  std::lock_guard lock(mu_);
  auto node = lookup(path);
  if (!node) return node.error();
  auto it = (*node)->xattrs.find(name);
  if (it == (*node)->xattrs.end()) return make_error(ENODATA, "no such attribute");
  (*node)->xattrs.erase(it);
  return {};
}

// --- test controls ---

void MemoryFsScheme::set_online(bool online) {
  online_ = online;
}

void MemoryFsScheme::set_block_reads(bool block) {
  std::lock_guard lock(gate_mu_);
  reads_blocked_ = block;
  gate_cv_.notify_all();
}

bool MemoryFsScheme::wait_for_blocked_read(std::chrono::milliseconds timeout) {
  std::unique_lock lock(gate_mu_);
  return gate_cv_.wait_for(lock, timeout, [&] { return blocked_readers_ > 0; });
}

void MemoryFsScheme::throw_on_next_call() {
  throw_next_ = true;
}

Result<MemoryFsScheme::NodePtr> MemoryFsScheme::add_node(std::string_view path, uint32_t mode) {
  auto rel = RelPath::parse(path);
  if (!rel) return rel.error();
  std::lock_guard lock(mu_);
  auto place = slot(*rel);
  if (!place) return place.error();
  if (place->existing) return make_error(EEXIST, "exists");
  auto node = make_node(mode, Creds{});
  place->dir->children[place->name] = node;
  if (S_ISDIR(mode)) ++place->dir->attr.nlink;
  return node;
}

Status MemoryFsScheme::add_dir(std::string_view path) {
  auto node = add_node(path, S_IFDIR | 0755);
  if (!node) return node.error();
  return {};
}

Status MemoryFsScheme::add_file(std::string_view path, std::string_view content) {
  auto node = add_node(path, S_IFREG | 0644);
  if (!node) return node.error();
  std::lock_guard lock(mu_);
  const auto* bytes = reinterpret_cast<const std::byte*>(content.data());
  (*node)->data.assign(bytes, bytes + content.size());
  (*node)->attr.size = content.size();
  return {};
}

std::optional<std::string> MemoryFsScheme::file_content(std::string_view path) const {
  auto rel = RelPath::parse(path);
  if (!rel) return std::nullopt;
  std::lock_guard lock(mu_);
  auto node = lookup(*rel);
  if (!node || !(*node)->is_reg()) return std::nullopt;
  const auto& data = (*node)->data;
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

std::size_t MemoryFsScheme::open_files() const {
  std::lock_guard lock(mu_);
  return files_.size();
}

MemoryFsScheme::Counters MemoryFsScheme::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void MemoryFsScheme::reset_counters() {
  std::lock_guard lock(mu_);
  counters_ = Counters{};
}

}  // namespace bridge::test
