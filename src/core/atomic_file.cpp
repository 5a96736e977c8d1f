#include "fluxkit/core/atomic_file.hpp"

#include <unistd.h>

#include <atomic>
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
