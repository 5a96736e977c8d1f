#include "fluxkit/core/atomic_file.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

namespace {
std::atomic<unsigned> temp_counter{0};
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  const auto dir = target_.parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(dir.string(), "", fmt::format("cannot create directory: {}", ec.message()));
  // Hidden and suffixed, so a leftover from a killed run never looks like a finished file.
  temp_ = dir / fmt::format(".{}.tmp-{}-{}", target_.filename().string(), getpid(), temp_counter++);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (std::rename(temp_.c_str(), target_.c_str()) != 0)
    throw FileError(target_.string(), "",
                    fmt::format("cannot move finished file into place: {}", std::strerror(errno)));
  committed_ = true;
  remove_stale_temporaries(target_);
}

void remove_stale_temporaries(const std::filesystem::path& target) {
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  const std::string name = target.filename().string();
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  if (ec) return;  // best effort: leftovers never look like finished files anyway
  for (; it != end; it.increment(ec)) {
    if (ec) return;
    const std::string entry = it->path().filename().string();
    // ".<name>.tmp-<pid>[-<n>]" or ".<name>.old-<pid>"
    const std::string stem = "." + name + ".";
    if (!entry.starts_with(stem) || entry.size() < stem.size() + 5) continue;
    const std::string tag = entry.substr(stem.size(), 4);
    if (tag != "tmp-" && tag != "old-") continue;
    std::size_t p = stem.size() + 4, digits = 0;
    long long pid = 0;
    while (p < entry.size() && std::isdigit(static_cast<unsigned char>(entry[p])) && digits < 10) {
      pid = pid * 10 + (entry[p++] - '0');
      ++digits;
    }
    if (digits == 0 || (p < entry.size() && entry[p] != '-')) continue;
    if (pid == static_cast<long long>(getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running (or not ours)
    std::error_code rm;
    std::filesystem::remove_all(it->path(), rm);
  }
}

void write_text_atomic(const std::filesystem::path& target, const std::string& text) {
  AtomicFile file(target);
  {
    std::ofstream out(file.temp_path(), std::ios::binary);
    out << text;
    out.flush();
    if (!out) throw FileError(target.string(), "", "write failed");
  }
  file.commit();
}

}  // namespace fluxkit
