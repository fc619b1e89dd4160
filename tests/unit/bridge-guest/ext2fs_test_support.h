// Helpers for the ext2fs engine tests: a temporary directory, running the real e2fsprogs tools,
// and short ways to call the engine.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bridge-guest/engines/fs_engine.h"
#include "common/fs_types.h"
#include "common/name_component.h"

namespace bridge::guest::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CmdResult {
  int status = -1;     // exit status, or -1 when the command did not exit normally
  std::string output;  // stdout and stderr together
};

std::string quote(const std::string& arg);
CmdResult run(const std::string& command);

// mke2fs -q -F -t TYPE [extra] -d SRC IMG SIZE; fails the test on error.
void make_image(const std::filesystem::path& img, const std::filesystem::path& src,
                const std::string& type, const std::string& size, const std::string& extra = "");
// e2fsck -fn IMG
CmdResult fsck(const std::filesystem::path& img);
// A superblock field as dumpe2fs -h prints it ("Filesystem state" -> "clean").
std::string superblock_field(const std::filesystem::path& img, const std::string& field);
std::string sha256(const std::filesystem::path& file);

void write_file(const std::filesystem::path& p, const std::string& contents);
std::string read_host_file(const std::filesystem::path& p);
std::string random_bytes(std::size_t n, uint32_t seed);

RelPath P(const std::string& text);
OpenFlags ro_flags();
OpenFlags rw_flags();
OpenFlags create_flags(bool exclusive = false);

// Whole-file helpers through the engine. Failures are reported as test failures.
std::string read_all(FsEngine& engine, const std::string& path, std::size_t chunk = 1 << 20);
void write_all(FsEngine& engine, const std::string& path, const std::string& data,
               std::size_t chunk = 1 << 20);
std::vector<std::string> list_dir(FsEngine& engine, const std::string& path, uint32_t page = 64);

}  // namespace bridge::guest::testing
