// fs_bench: sequential read throughput and stat latency of the same files seen through several
// mounts, side by side in one run. Caches are dropped before every measurement so each one
// starts cold (the page cache of the image file too, which every path below reads through).
//
//   fs_bench --file REL --stat-dir REL [--runs N] [--json PATH] LABEL=ROOT ...
//
// The first LABEL is the baseline; every other row is also given as a ratio to it. Numbers are
// medians over the runs; within a run the targets take turns. It only prints: benchmarks never
// decide pass/fail.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string label;
  std::string root;
  double read_mb_s = 0;
  double stat_us = 0;
};

void drop_caches() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double read_mb_s(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::vector<char> buf(1 << 20);
  std::size_t total = 0;
  auto start = Clock::now();
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
    total += static_cast<std::size_t>(n);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return static_cast<double>(total) / (1 << 20) / secs;
}

std::vector<std::string> list_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    std::perror(dir.c_str());
    std::exit(1);
  }
  while (auto* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
  }
  ::closedir(d);
  return names;
}

double stat_us(const std::string& dir, const std::vector<std::string>& names) {
  struct stat st;
  auto start = Clock::now();
  for (const auto& n : names) {
    if (::stat((dir + "/" + n).c_str(), &st) != 0) std::perror(n.c_str());
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() /
         static_cast<double>(names.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, stat_dir, json;
  int runs = 3;
  std::vector<Target> targets;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--file")
      file = next();
    else if (a == "--stat-dir")
      stat_dir = next();
    else if (a == "--runs")
      runs = std::atoi(next().c_str());
    else if (a == "--json")
      json = next();
    else if (auto eq = a.find('='); eq != std::string::npos)
      targets.push_back({a.substr(0, eq), a.substr(eq + 1)});
    else {
      std::fprintf(
          stderr,
          "usage: fs_bench --file REL --stat-dir REL [--runs N] [--json PATH] LABEL=ROOT ...\n");
      return 2;
    }
  }
  if (file.empty() || stat_dir.empty() || targets.empty() || runs < 1) {
    std::fprintf(stderr, "fs_bench: need --file, --stat-dir and at least one LABEL=ROOT\n");
    return 2;
  }
  auto names = list_names(targets[0].root + "/" + stat_dir);
  // Round-robin over the targets within each run, so that drift in the machine's load (these
  // machines are shared) spreads over all of them instead of favouring whichever ran first.
  std::vector<std::vector<double>> reads(targets.size()), stats(targets.size());
  for (int r = 0; r < runs; ++r) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      drop_caches();
      reads[i].push_back(read_mb_s(targets[i].root + "/" + file));
      drop_caches();
      stats[i].push_back(stat_us(targets[i].root + "/" + stat_dir, names));
    }
    std::fprintf(stderr, "run %d of %d done\n", r + 1, runs);
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    targets[i].read_mb_s = median(reads[i]);
    targets[i].stat_us = median(stats[i]);
  }
  const Target& base = targets[0];
  std::printf("%-22s %12s %10s %14s %10s\n", "path", "read MiB/s", "x base", "stat us/op",
              "x base");
  for (const auto& t : targets) {
    std::printf("%-22s %12.1f %10.2f %14.1f %10.2f\n", t.label.c_str(), t.read_mb_s,
                t.read_mb_s / base.read_mb_s, t.stat_us, t.stat_us / base.stat_us);
  }
  if (!json.empty()) {
    std::ofstream out(json);
    out << "{\"file\":\"" << file << "\",\"stat_files\":" << names.size() << ",\"runs\":" << runs
        << ",\"baseline\":\"" << base.label << "\",\"results\":[";
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& t = targets[i];
      out << (i ? "," : "") << "{\"label\":\"" << t.label << "\",\"read_mib_s\":" << t.read_mb_s
          << ",\"stat_us\":" << t.stat_us << ",\"read_ratio\":" << t.read_mb_s / base.read_mb_s
          << ",\"stat_ratio\":" << t.stat_us / base.stat_us << "}";
    }
    out << "]}\n";
  }
  return 0;
}
