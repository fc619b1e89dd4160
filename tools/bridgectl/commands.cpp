#include "tools/bridgectl/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "schemes/remote_fs_scheme.h"
#include "tools/bridgectl/control_client.h"
#include "tools/bridgectl/scheme_path.h"

namespace bridge::ctl {
namespace {

constexpr const char* kProgram = "bridgectl";

int report(std::string_view what, const Error& error) {
  std::fprintf(stderr, "%s: %.*s: %s%s%s\n", kProgram, static_cast<int>(what.size()), what.data(),
               std::strerror(error.code), error.context.empty() ? "" : " - ",
               error.context.c_str());
  return 1;
}

int usage(const char* text) {
  std::fprintf(stderr, "%s: usage: %s\n", kProgram, text);
  return 2;
}

// A connection to the host and the scheme a path names.
struct Target {
  std::unique_ptr<RemoteFsScheme> fs;  // owns the connection through its channel
  SchemePath where;
};

Result<Target> open_target(const Context& ctx, const std::string& text) {
  auto where = parse_scheme_path(text);
  if (!where) return where.error();
  auto client = ControlClient::connect(ctx.control_path);
  if (!client) return client.error();
  auto index = (*client)->index_of(where->scheme);
  if (!index) return index.error();
  const auto& info = (*client)->schemes()[*index];
  if (!info.online)
    return make_error(
        EIO, "scheme '" + info.name + "' is offline (guest '" + info.guest + "' is not connected)");
  const bool read_only = info.read_only;
  std::shared_ptr<ControlClient> channel = std::move(*client);
  return Target{std::make_unique<RemoteFsScheme>(channel, *index, read_only), std::move(*where)};
}

Status write_out(int fd, const std::byte* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno, "write to output failed");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Status cat_one(Target& t) {
  auto opened = t.fs->open(t.where.path, OpenFlags{}, 0, {});
  if (!opened) return opened.error();
  std::vector<std::byte> buffer(t.fs->max_io());
  uint64_t offset = 0;
  Status status;
  while (status) {
    auto got = t.fs->read(opened->id, offset, buffer);
    if (!got) status = got.error();
    if (!got || *got == 0) break;
    status = write_out(STDOUT_FILENO, buffer.data(), *got);
    offset += *got;
  }
  (void)t.fs->close(opened->id);
  return status;
}

char type_char(uint32_t mode) {
  if (S_ISDIR(mode)) return 'd';
  if (S_ISLNK(mode)) return 'l';
  if (S_ISCHR(mode)) return 'c';
  if (S_ISBLK(mode)) return 'b';
  if (S_ISFIFO(mode)) return 'p';
  if (S_ISSOCK(mode)) return 's';
  return '-';
}

std::string mode_string(uint32_t mode) {
  std::string s(1, type_char(mode));
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (mode & (0400 >> i)) ? rwx[i] : '-';
  return s;
}

std::string time_string(const Timestamp& t) {
  char buf[64];
  std::time_t secs = static_cast<std::time_t>(t.sec);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void print_long(const DirEntry& e) {
  std::printf("%s %3u %5u %5u %10llu %s %s\n", mode_string(e.attr.mode).c_str(), e.attr.nlink,
              e.attr.uid, e.attr.gid, static_cast<unsigned long long>(e.attr.size),
              time_string(e.attr.mtime).c_str(), e.name.c_str());
}

Result<std::vector<std::byte>> read_source(const std::string& local) {
  int fd = local == "-" ? STDIN_FILENO : ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, "cannot open " + local);
  std::vector<std::byte> data;
  std::byte chunk[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno, "cannot read " + local);
    if (n == 0) break;
    data.insert(data.end(), chunk, chunk + n);
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return data;
}

Status put_data(Target& t, const std::vector<std::byte>& data) {
  OpenFlags flags;
  flags.write = true;
  flags.create = true;
  flags.truncate = true;
  auto opened = t.fs->open(t.where.path, flags, 0644, {::getuid(), ::getgid()});
  if (!opened) return opened.error();
  Status status;
  const bool progress = ::isatty(STDERR_FILENO) && data.size() > (64u << 20);
  for (std::size_t off = 0; off < data.size() && status;) {
    auto n = t.fs->write(opened->id, off, std::span(data).subspan(off));
    if (!n)
      status = n.error();
    else if (*n == 0)
      status = make_error(EIO, "guest accepted no bytes");
    else
      off += *n;
    if (progress) std::fprintf(stderr, "\r%zu / %zu MiB", off >> 20, data.size() >> 20);
  }
  if (progress) std::fputc('\n', stderr);
  if (status) status = t.fs->fsync(opened->id, false);
  auto closed = t.fs->close(opened->id);
  if (status && !closed) status = closed;
  return status;
}

}  // namespace

int cmd_cat(const Context& ctx, const Args& args) {
  if (args.empty()) return usage("cat SCHEME:/PATH ...");
  int rc = 0;
  for (const auto& a : args) {
    auto t = open_target(ctx, a);
    Status st = t ? cat_one(*t) : Status(t.error());
    if (!st) rc = report("cat " + a, st.error());
  }
  return rc;
}

int cmd_ls(const Context& ctx, const Args& args) {
  bool longform = !args.empty() && args[0] == "-l";
  Args paths(args.begin() + (longform ? 1 : 0), args.end());
  if (paths.size() != 1) return usage("ls [-l] SCHEME:/PATH");
  auto t = open_target(ctx, paths[0]);
  if (!t) return report("ls " + paths[0], t.error());
  uint64_t cookie = 0;
  while (true) {
    auto page = t->fs->readdir(t->where.path, cookie, 512, longform);
    if (!page) return report("ls " + paths[0], page.error());
    for (const auto& e : page->entries) {
      if (longform)
        print_long(e);
      else
        std::printf("%s\n", e.name.c_str());
    }
    if (page->end || page->entries.empty()) break;
    cookie = page->next_cookie;
  }
  return 0;
}

int cmd_stat(const Context& ctx, const Args& args) {
  if (args.size() != 1) return usage("stat SCHEME:/PATH");
  auto t = open_target(ctx, args[0]);
  if (!t) return report("stat " + args[0], t.error());
  auto a = t->fs->getattr(t->where.path, false);
  if (!a) return report("stat " + args[0], a.error());
  std::printf(
      "  path: %s\n  size: %llu  blocks: %llu  inode: %llu  links: %u\n"
      "  mode: %04o (%s)  uid: %u  gid: %u\n  atime: %s\n  mtime: %s\n  ctime: %s\n",
      t->where.str().c_str(), static_cast<unsigned long long>(a->size),
      static_cast<unsigned long long>(a->blocks), static_cast<unsigned long long>(a->ino), a->nlink,
      a->mode & 07777, mode_string(a->mode).c_str(), a->uid, a->gid, time_string(a->atime).c_str(),
      time_string(a->mtime).c_str(), time_string(a->ctime).c_str());
  return 0;
}

int cmd_put(const Context& ctx, const Args& args) {
  if (args.size() != 1 && args.size() != 2)
    return usage("put [LOCAL_FILE|-] SCHEME:/PATH   (no LOCAL_FILE: read standard input)");
  const std::string local = args.size() == 2 ? args[0] : "-";
  const std::string& dest = args.back();
  auto data = read_source(local);
  if (!data) return report("put " + dest, data.error());
  auto t = open_target(ctx, dest);
  if (!t) return report("put " + dest, t.error());
  auto st = put_data(*t, *data);
  return st ? 0 : report("put " + dest, st.error());
}

int cmd_rm(const Context& ctx, const Args& args) {
  if (args.empty()) return usage("rm SCHEME:/PATH ...   (empty directories too)");
  int rc = 0;
  for (const auto& a : args) {
    auto t = open_target(ctx, a);
    if (!t) {
      rc = report("rm " + a, t.error());
      continue;
    }
    auto attr = t->fs->getattr(t->where.path, false);
    Status st = !attr                 ? Status(attr.error())
                : S_ISDIR(attr->mode) ? t->fs->rmdir(t->where.path)
                                      : t->fs->unlink(t->where.path);
    if (!st) rc = report("rm " + a, st.error());
  }
  return rc;
}

int cmd_mkdir(const Context& ctx, const Args& args) {
  bool parents = !args.empty() && args[0] == "-p";
  Args paths(args.begin() + (parents ? 1 : 0), args.end());
  if (paths.empty()) return usage("mkdir [-p] SCHEME:/PATH ...");
  int rc = 0;
  for (const auto& a : paths) {
    auto t = open_target(ctx, a);
    if (!t) {
      rc = report("mkdir " + a, t.error());
      continue;
    }
    std::vector<RelPath> steps;  // with -p every ancestor, else just the path
    if (parents) {
      RelPath prefix;
      for (const auto& part : t->where.path.components())
        steps.push_back(prefix = prefix.child(part));
    } else {
      steps.push_back(t->where.path);
    }
    for (const auto& step : steps) {
      auto made = t->fs->mkdir(step, 0755, {::getuid(), ::getgid()});
      if (!made && !(parents && made.code() == EEXIST)) {
        rc = report("mkdir " + a, made.error());
        break;
      }
    }
  }
  return rc;
}

int cmd_status(const Context& ctx, const Args& args) {
  if (!args.empty()) return usage("status");
  auto client = ControlClient::connect(ctx.control_path);
  if (!client) return report("status", client.error());
  std::printf("host %s: %zu scheme(s)\n", (*client)->host_name().c_str(),
              (*client)->schemes().size());
  std::printf("%-16s %-8s %-8s %-4s %-16s %s\n", "SCHEME", "STATE", "ENGINE", "MODE", "GUEST",
              "NOTE");
  for (const auto& s : (*client)->schemes()) {
    std::printf("%-16s %-8s %-8s %-4s %-16s %s\n", s.name.c_str(), s.online ? "online" : "offline",
                s.engine.c_str(), s.read_only ? "ro" : "rw", s.guest.c_str(), s.note.c_str());
  }
  return 0;
}

namespace {

constexpr const char* kSubvolUsage =
    "subvol list SCHEME:/ | create PATH | snapshot [-r] SOURCE DEST | delete PATH |\n"
    "       get-default SCHEME:/ | set-default PATH | readonly PATH [on|off]";

std::string uuid_string(const std::vector<uint8_t>& uuid) {
  if (uuid.size() != 16 || std::all_of(uuid.begin(), uuid.end(), [](uint8_t b) { return b == 0; }))
    return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
                uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
                uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
  return buf;
}

int subvol_list(Target& t) {
  auto subvols = t.fs->list_subvolumes();
  if (!subvols) return report("subvol list", subvols.error());
  std::printf("%-6s %-6s %-4s %-36s %s\n", "ID", "PARENT", "MODE", "SNAPSHOT OF (UUID)", "PATH");
  for (const auto& s : *subvols) {
    std::printf("%-6llu %-6llu %-4s %-36s %s\n", static_cast<unsigned long long>(s.id),
                static_cast<unsigned long long>(s.parent_id), s.read_only ? "ro" : "rw",
                uuid_string(s.parent_uuid).c_str(), s.path.c_str());
  }
  return 0;
}

int subvol_snapshot(const Context& ctx, Args args) {
  bool read_only = !args.empty() && args[0] == "-r";
  if (read_only) args.erase(args.begin());
  if (args.size() != 2) return usage(kSubvolUsage);
  auto t = open_target(ctx, args[0]);
  if (!t) return report("subvol snapshot " + args[0], t.error());
  auto dest = parse_scheme_path(args[1]);
  if (!dest) return report("subvol snapshot " + args[1], dest.error());
  if (dest->scheme != t->where.scheme)
    return report("subvol snapshot",
                  make_error(EXDEV, "source and destination are on different schemes"));
  auto st = t->fs->snapshot(t->where.path, dest->path, read_only);
  return st ? 0 : report("subvol snapshot " + args[0] + " " + args[1], st.error());
}

int subvol_readonly(Target& t, const Args& args) {
  if (args.size() == 2) {
    auto ro = t.fs->subvolume_read_only(t.where.path);
    if (!ro) return report("subvol readonly " + args[1], ro.error());
    std::printf("%s\n", *ro ? "on" : "off");
    return 0;
  }
  if (args[2] != "on" && args[2] != "off") return usage(kSubvolUsage);
  auto st = t.fs->set_subvolume_read_only(t.where.path, args[2] == "on");
  return st ? 0 : report("subvol readonly " + args[1], st.error());
}

}  // namespace

int cmd_subvol(const Context& ctx, const Args& args) {
  if (args.empty()) return usage(kSubvolUsage);
  const std::string& verb = args[0];
  if (verb == "snapshot") return subvol_snapshot(ctx, Args(args.begin() + 1, args.end()));
  if (args.size() < 2 || args.size() > 3 || (args.size() == 3 && verb != "readonly"))
    return usage(kSubvolUsage);
  auto t = open_target(ctx, args[1]);
  if (!t) return report("subvol " + verb + " " + args[1], t.error());
  Status st;
  if (verb == "list") return subvol_list(*t);
  if (verb == "readonly") return subvol_readonly(*t, args);
  if (verb == "get-default") {
    auto id = t->fs->default_subvolume();
    if (!id) return report("subvol get-default", id.error());
    std::printf("%llu\n", static_cast<unsigned long long>(*id));
    return 0;
  }
  if (verb == "create")
    st = t->fs->create_subvolume(t->where.path);
  else if (verb == "delete")
    st = t->fs->delete_subvolume(t->where.path);
  else if (verb == "set-default")
    st = t->fs->set_default_subvolume(t->where.path);
  else
    return usage(kSubvolUsage);
  return st ? 0 : report("subvol " + verb + " " + args[1], st.error());
}

}  // namespace bridge::ctl
