#include "vm/vm_spec.h"

#include <sys/stat.h>

#include <charconv>
#include <cstring>

namespace bridge::vm {

namespace {

constexpr unsigned kMinMemMib = 64;
constexpr unsigned kMaxMemMib = 1u << 20;  // 1 TiB: a typo, not a VM
constexpr unsigned kMaxCpus = 64;
constexpr unsigned kMaxRegionMib = 1u << 16;

Error invalid(std::string message) {
  return make_error(EINVAL, std::move(message));
}

Result<unsigned> parse_unsigned(std::string_view key, std::string_view text) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return invalid(std::string(key) + " must be a whole number, not '" + std::string(text) + "'");
  return v;
}

// A file the VM needs: must exist and not be a directory (block devices are fine for disks).
Status check_file(std::string_view what, const std::string& path) {
  if (path.empty()) return invalid(std::string(what) + " is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    return make_error(err, std::string(what) + " '" + path + "': " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) return invalid(std::string(what) + " '" + path + "' is a directory");
  return {};
}

bool no_line_breaks(std::string_view s) {
  return s.find_first_of("\n\r") == s.npos;
}

bool is_power_of_two(unsigned v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

Result<Display> parse_display(std::string_view text) {
  if (text == "none") return Display::kNone;
  if (text == "bochs") return Display::kBochs;
  if (text == "virtio-gpu") return Display::kVirtioGpu;
  return invalid("display must be none, bochs or virtio-gpu, not '" + std::string(text) + "'");
}

std::string_view display_name(Display display) {
  switch (display) {
    case Display::kNone:
      return "none";
    case Display::kBochs:
      return "bochs";
    case Display::kVirtioGpu:
      return "virtio-gpu";
  }
  return "none";
}

Status validate_name(std::string_view name) {
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  bool ok =
      !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '_' && name[0] != '-';
  for (char c : name) ok = ok && ok_char(c);
  if (!ok)
    return invalid("VM name '" + std::string(name) +
                   "' must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit");
  return {};
}

Status validate(const VmSpec& spec) {
  if (auto st = validate_name(spec.name); !st) return st;
  if (spec.kernel.empty()) return invalid("VM '" + spec.name + "' has no kernel");
  if (auto st = check_file("kernel", spec.kernel); !st) return st;
  if (!spec.initrd.empty())
    if (auto st = check_file("initrd", spec.initrd); !st) return st;
  for (const auto& disk : spec.disks)
    if (auto st = check_file("disk", disk); !st) return st;
  if (spec.mem_mib < kMinMemMib || spec.mem_mib > kMaxMemMib)
    return invalid("mem must be " + std::to_string(kMinMemMib) + ".." + std::to_string(kMaxMemMib) +
                   " MiB, not " + std::to_string(spec.mem_mib));
  if (spec.cpus < 1 || spec.cpus > kMaxCpus)
    return invalid("cpus must be 1.." + std::to_string(kMaxCpus) + ", not " +
                   std::to_string(spec.cpus));
  if (spec.vsock_socket.empty()) return invalid("vsock socket path is empty");
  if (spec.region_mib != 0 &&
      (!is_power_of_two(spec.region_mib) || spec.region_mib > kMaxRegionMib))
    return invalid("region must be a power of two up to " + std::to_string(kMaxRegionMib) +
                   " MiB (ivshmem requires it), not " + std::to_string(spec.region_mib));
  // The spec file and config lines are line-based, and QEMU paths cannot carry line breaks
  // usefully either.
  for (const std::string* s : {&spec.kernel, &spec.initrd, &spec.append, &spec.vsock_socket})
    if (!no_line_breaks(*s)) return invalid("a line break in '" + *s + "'");
  for (const auto& disk : spec.disks)
    if (!no_line_breaks(disk) || disk.find(' ') != disk.npos)
      return invalid("disk path '" + disk + "' must not contain spaces or line breaks");
  for (const std::string* s : {&spec.kernel, &spec.initrd, &spec.vsock_socket, &spec.region_file})
    if (s->find(' ') != s->npos) return invalid("path '" + *s + "' must not contain spaces");
  return {};
}

Status set_option(VmSpec& spec, std::string_view key, std::string_view value) {
  if (key == "kernel") {
    spec.kernel = value;
  } else if (key == "initrd") {
    spec.initrd = value;
  } else if (key == "disk") {
    spec.disks.emplace_back(value);
  } else if (key == "append") {
    spec.append = value;
  } else if (key == "vsock") {
    spec.vsock_socket = value;
  } else if (key == "region-file") {
    spec.region_file = value;
  } else if (key == "display") {
    auto d = parse_display(value);
    if (!d) return d.error();
    spec.display = *d;
  } else if (key == "mem" || key == "cpus" || key == "region") {
    auto n = parse_unsigned(key, value);
    if (!n) return n.error();
    (key == "mem" ? spec.mem_mib : key == "cpus" ? spec.cpus : spec.region_mib) = *n;
  } else {
    return invalid("unknown VM option '" + std::string(key) +
                   "' (kernel, initrd, disk, mem, cpus, append, vsock, display, region, "
                   "region-file)");
  }
  return {};
}

Result<VmSpec> parse_spec_line(std::string_view line) {
  VmSpec spec;
  auto skip_spaces = [&] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  };
  auto word = [&] {
    skip_spaces();
    std::size_t end = line.find_first_of(" \t");
    std::string_view w = line.substr(0, end);
    line.remove_prefix(w.size());
    return w;
  };
  spec.name = word();
  if (spec.name.empty()) return invalid("a VM needs a name first: NAME key=value ...");
  for (skip_spaces(); !line.empty(); skip_spaces()) {
    if (line.starts_with("append=")) {  // the rest of the line, spaces and all
      spec.append = line.substr(7);
      break;
    }
    std::string_view kv = word();
    std::size_t eq = kv.find('=');
    if (eq == kv.npos)
      return invalid("VM '" + spec.name + "': expected key=value, not '" + std::string(kv) + "'");
    if (auto st = set_option(spec, kv.substr(0, eq), kv.substr(eq + 1)); !st) return st.error();
  }
  return spec;
}

std::string to_spec_line(const VmSpec& spec) {
  std::string out = spec.name + " kernel=" + spec.kernel;
  if (!spec.initrd.empty()) out += " initrd=" + spec.initrd;
  for (const auto& disk : spec.disks) out += " disk=" + disk;
  out += " mem=" + std::to_string(spec.mem_mib) + " cpus=" + std::to_string(spec.cpus);
  out += " vsock=" + spec.vsock_socket;
  out += " display=" + std::string(display_name(spec.display));
  out += " region=" + std::to_string(spec.region_mib);
  if (!spec.region_file.empty()) out += " region-file=" + spec.region_file;
  if (!spec.append.empty()) out += " append=" + spec.append;
  return out;
}

bool operator==(const VmSpec& a, const VmSpec& b) {
  return a.name == b.name && a.kernel == b.kernel && a.initrd == b.initrd && a.disks == b.disks &&
         a.mem_mib == b.mem_mib && a.cpus == b.cpus && a.append == b.append &&
         a.vsock_socket == b.vsock_socket && a.display == b.display &&
         a.region_mib == b.region_mib && a.region_file == b.region_file;
}

}  // namespace bridge::vm
