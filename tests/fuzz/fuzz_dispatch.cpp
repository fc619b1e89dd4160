// Fuzzes the guest's decode + dispatch on a real ext2fs engine. Each input is one frame as a
// (hostile) host could send it; it goes through frame::decode and Dispatcher::handle exactly as
// in bridge-guest, on a small real image made with mke2fs -d at start-up. State carries over
// between inputs (files the fuzzer creates stay), which is what a long-lived guest sees too.
// A 1 MiB memfd is mapped as the connection's shared region, as in local mode, so reads `into`
// a range and writes from a range reach the bounds checks and the engine with real memory
// (ASan catches any access past the mapping the checks let through).
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>

#include "bridge-guest/dispatcher.h"
#include "bridge-guest/engines/engine_factory.h"
#include "schema/frame.h"

namespace {

std::unique_ptr<bridge::guest::Dispatcher> g_dispatcher;
bridge::SharedRegion g_region;

std::string make_image() {
  char tmpl[] = "/tmp/fuzz-dispatch-XXXXXX";
  if (!::mkdtemp(tmpl)) std::abort();
  std::filesystem::path dir = tmpl;
  std::filesystem::create_directories(dir / "tree/home/dir");
  std::filesystem::create_directories(dir / "tree/home/user");
  std::ofstream(dir / "tree/home/user/file") << "user file\n";
  std::ofstream(dir / "tree/home/file") << "hello\n";
  std::ofstream(dir / "tree/home/dir/a") << "a\n";
  std::filesystem::create_symlink("/home/file", dir / "tree/home/link");
  std::string image = (dir / "fuzz.img").string();
  std::string cmd = "mke2fs -q -t ext4 -d '" + (dir / "tree").string() + "' -F '" + image + "' 8M";
  if (std::system(cmd.c_str()) != 0) std::abort();
  return image;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace bridge::guest;
  ExportSpec spec{"ext4", "ext2fs", make_image(), false};
  auto engine = open_engine(spec);
  if (!engine) {
    std::fprintf(stderr, "fuzz_dispatch: %s\n", engine.error().context.c_str());
    std::abort();
  }
  std::vector<std::unique_ptr<ServedExport>> exports;
  exports.push_back(std::make_unique<ServedExport>(spec, std::move(engine).value(), 0x55));
  g_dispatcher = std::make_unique<Dispatcher>(std::move(exports), 0x55);
  auto region = bridge::SharedRegion::create_memfd(1 << 20, "fuzz-dispatch-region");
  if (!region) {
    std::fprintf(stderr, "fuzz_dispatch: %s\n", region.error().context.c_str());
    std::abort();
  }
  g_region = std::move(region).value();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // INVARIANT: libFuzzer's input is plain bytes.
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto decoded = bridge::frame::decode(bytes);
  if (!decoded) return 0;
  try {
    auto message = decoded->frame.message();
    if (!message.isRequest()) return 0;
    auto reply = g_dispatcher->handle(message.getRequest(), {&g_region});
    if (reply.size() == 0) std::abort();  // every request gets an answer
  } catch (const kj::Exception&) {
    // Reading the envelope may throw on a malformed root; the daemon catches it the same way.
  }
  return 0;
}
