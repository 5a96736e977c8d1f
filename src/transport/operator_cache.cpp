#include "fluxkit/transport/operator_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"

namespace fluxkit::transport {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHashedBytes = 64 * 1024;  // of each end of a footprint file

// Two independent 64-bit streams over the same bytes, eight at a time (the stamps hash 128 kB per footprint
// file, on every run): a 128-bit key. Stream a is FNV-1a on words with a xor-shift, stream b a SplitMix.
class KeyHash {
 public:
  void add(std::string_view bytes) {
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t w = 0;
      std::memcpy(&w, bytes.data() + i, 8);
      add_word(w);
    }
    std::uint64_t tail = bytes.size() - i;  // the length in the top byte keeps "" and "\0" apart
    for (std::size_t k = 0; i + k < bytes.size(); ++k)
      tail |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i + k])) << (8 * (k + 1));
    add_word(tail);
  }
  template <class T>
  void add_value(const T& v) {
    add(std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
  }
  void add_string(std::string_view s) {
    add_value(static_cast<std::uint64_t>(s.size()));
    add(s);
  }
  std::string hex() const { return hex64(a_) + hex64(mix64(b_)); }

 private:
  void add_word(std::uint64_t w) {
    a_ = (a_ ^ w) * 0x100000001b3ULL;
    a_ ^= a_ >> 29;
    b_ = mix64(b_ ^ w);
  }
  std::uint64_t a_ = 0xcbf29ce484222325ULL, b_ = 0x84222325cbf29ce4ULL;
};

// Size, modification time and the hash of the first and last kHashedBytes of a footprint file.
void add_file_stamp(KeyHash& h, const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw FileError(path.string(), "",
                    fmt::format("cannot open the footprint file: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw FileError(path.string(), "",
                    fmt::format("cannot stat the footprint file: {}", std::strerror(errno)));
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  h.add_value(size);
  h.add_value(static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  std::string buf(std::min<std::uint64_t>(size, kHashedBytes), '\0');
  const auto read_at = [&](std::uint64_t offset) {
    std::size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n <= 0) {
        ::close(fd);
        throw FileError(path.string(), "", "cannot read the footprint file (it changed while being read?)");
      }
      done += static_cast<std::size_t>(n);
    }
    h.add(buf);
  };
  read_at(0);
  if (size > kHashedBytes) read_at(size - buf.size());
  ::close(fd);
}

void touch(const fs::path& path) {
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // last use; failure only affects eviction order
}

// Deletes the least recently used entries beyond kMaxCacheEntries (never `keep`).
void evict(const fs::path& dir, const fs::path& keep) {
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> entries;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".fkop" && e.path() != keep)
      entries.emplace_back(e.last_write_time(ec), e.path());
  if (entries.size() + 1 <= kMaxCacheEntries) return;
  std::sort(entries.begin(), entries.end());
  for (std::size_t i = 0; i + kMaxCacheEntries < entries.size() + 1; ++i) {
    spdlog::debug("operator cache: removing the least recently used entry {}", entries[i].second.string());
    fs::remove(entries[i].second, ec);
  }
}

}  // namespace

std::string operator_cache_key(const std::vector<FileTask>& files, GridShape grid,
                               const OperatorOptions& options, std::string_view footprint_format) {
  KeyHash h;
  h.add_string("fluxkit operator cache");
  h.add_value(PackedOperator::kVersion);
  h.add_value(static_cast<std::uint64_t>(grid.nlat));
  h.add_value(static_cast<std::uint64_t>(grid.nlon));
  h.add_value(static_cast<std::uint8_t>(options.check_grid));
  h.add_value(static_cast<std::uint8_t>(options.truncate));  // not used by packing; kept for a clean key
  for (const auto* axis : {&options.lats, &options.lons}) {
    h.add_value(static_cast<std::uint64_t>(axis->size()));
    for (const double x : *axis)
      h.add_value(static_cast<std::int64_t>(std::llround(x * 1e4)));
  }
  h.add_string(footprint_format);
  h.add_value(static_cast<std::uint64_t>(files.size()));
  for (const FileTask& f : files) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(f.path, ec);
    h.add_string((ec ? f.path : absolute).lexically_normal().string());
    add_file_stamp(h, f.path);
    h.add_value(static_cast<std::uint64_t>(f.obs.size()));
    for (const ObsTask& o : f.obs) {
      h.add_value(o.time);
      h.add_string(o.key);
    }
  }
  return h.hex();
}

CachedOperator cached_operator(const fs::path& dir, const std::vector<FileTask>& files,
                               const FootprintSource& source, GridShape grid, const OperatorOptions& options,
                               std::string_view footprint_format, const Context& ctx) {
  OperatorOptions keyed = options;
  keyed.truncate = false;  // packing does not depend on it: one entry serves both
  const std::string key = operator_cache_key(files, grid, keyed, footprint_format);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw FileError(dir.string(), "",
                    fmt::format("cannot create the operator cache directory: {}", ec.message()));

  CachedOperator c;
  c.path = dir / ("operator-" + key + ".fkop");
  if (fs::exists(c.path, ec)) {
    try {
      auto op = std::make_unique<PackedOperator>(c.path);
      if (op->check_sources() != 0) throw Error("a footprint file it was packed from is gone");
      op->check_grid(grid, options.check_grid ? options.lats : std::vector<double>{},
                     options.check_grid ? options.lons : std::vector<double>{});
      touch(c.path);
      c.op = std::move(op);
      return c;
    } catch (const Error& e) {
      c.rebuilt = e.what();
      spdlog::warn("operator cache: entry {} is not usable ({}); rebuilding it", c.path.string(), e.what());
      fs::remove(c.path, ec);
    }
  }
  c.summary = pack_operator(c.path, files, source, grid, options, ctx);
  c.op = std::make_unique<PackedOperator>(c.path);
  c.built = true;
  evict(dir, c.path);
  return c;
}

}  // namespace fluxkit::transport
