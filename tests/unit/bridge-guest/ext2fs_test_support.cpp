#include "ext2fs_test_support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>

namespace bridge::guest::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/ext2fs-test-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

CmdResult run(const std::string& command) {
  CmdResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

void make_image(const std::filesystem::path& img, const std::filesystem::path& src,
                const std::string& type, const std::string& size, const std::string& extra) {
  auto r = run("mke2fs -q -F -t " + type + " " + extra + " -d " + quote(src) + " " + quote(img) +
               " " + size);
  ASSERT_EQ(r.status, 0) << r.output;
}

CmdResult fsck(const std::filesystem::path& img) {
  return run("e2fsck -fn " + quote(img));
}

std::string superblock_field(const std::filesystem::path& img, const std::string& field) {
  auto r = run("dumpe2fs -h " + quote(img));
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    auto value = line.substr(field.size() + 1);
    auto start = value.find_first_not_of(' ');
    return start == std::string::npos ? "" : value.substr(start);
  }
  return {};
}

std::string sha256(const std::filesystem::path& file) {
  auto r = run("sha256sum " + quote(file));
  return r.output.substr(0, 64);
}

void write_file(const std::filesystem::path& p, const std::string& contents) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << contents;
}

std::string read_host_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string random_bytes(std::size_t n, uint32_t seed) {
  std::mt19937_64 gen(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    uint64_t v = gen();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

RelPath P(const std::string& text) {
  auto p = RelPath::parse(text);
  EXPECT_TRUE(p.ok()) << text;
  return p.ok() ? *p : RelPath{};
}

OpenFlags ro_flags() {
  return OpenFlags{};
}

OpenFlags rw_flags() {
  OpenFlags f;
  f.write = true;
  return f;
}

OpenFlags create_flags(bool exclusive) {
  OpenFlags f = rw_flags();
  f.create = true;
  f.exclusive = exclusive;
  return f;
}

std::string read_all(FsEngine& engine, const std::string& path, std::size_t chunk) {
  auto file = engine.open(P(path), ro_flags(), 0, {});
  EXPECT_TRUE(file.ok()) << path << ": " << (file.ok() ? "" : file.error().context);
  if (!file.ok()) return {};
  std::string out;
  std::vector<std::byte> buf(chunk);
  for (;;) {
    auto n = (*file)->read(out.size(), buf);
    EXPECT_TRUE(n.ok()) << path << ": " << (n.ok() ? "" : n.error().context);
    if (!n.ok() || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

void write_all(FsEngine& engine, const std::string& path, const std::string& data,
               std::size_t chunk) {
  OpenFlags f = create_flags();
  f.truncate = true;
  auto file = engine.open(P(path), f, 0644, {});
  ASSERT_TRUE(file.ok()) << path << ": " << file.error().context;
  auto bytes = std::as_bytes(std::span(data.data(), data.size()));
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    auto piece = bytes.subspan(off, std::min(chunk, bytes.size() - off));
    auto n = (*file)->write(off, piece);
    ASSERT_TRUE(n.ok()) << path << ": " << n.error().context;
    ASSERT_EQ(*n, piece.size());
  }
}

std::vector<std::string> list_dir(FsEngine& engine, const std::string& path, uint32_t page) {
  std::vector<std::string> names;
  uint64_t cookie = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = engine.readdir(P(path), cookie, page, false);
    EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().context);
    if (!r.ok()) break;
    for (auto& e : r->entries) names.push_back(e.name);
    cookie = r->next_cookie;
    if (r->end) break;
  }
  return names;
}

}  // namespace bridge::guest::testing
