#include "fluxkit/transport/packed.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/memory.hpp"
#include "transport/operator_detail.hpp"

namespace fluxkit::transport {

namespace {

constexpr char kMagic[16] = {'f', 'l', 'u', 'x', 'k', 'i', 't', '-', 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r'};
constexpr std::uint32_t kByteOrder = 0x01020304;
constexpr std::uint64_t kHeaderBytes = 512;
constexpr std::uint32_t kHasFootprint = 1, kByKey = 2;

struct Header {
  char magic[16];
  std::uint32_t version, byte_order;
  std::uint64_t file_bytes;
  std::uint64_t nlat, nlon, nsteps, nfiles, nobs, nslices, nnz, strings_bytes;
  std::uint64_t off_entries, off_lats, off_lons, off_steps, off_files, off_obs, off_slices, off_strings;
  std::uint64_t off_step_slices, off_obs_slices;
};
static_assert(sizeof(Header) <= kHeaderBytes);

struct Entry {
  std::uint32_t cell;
  float resp;
};
struct StepRec {
  std::int64_t start, end;
};
struct FileRec {
  std::uint64_t path_off, path_len, size;
  std::int64_t mtime_ns;
  std::uint64_t first_obs, nobs, nnz;
};
struct ObsRec {
  std::int64_t time;
  std::uint64_t key_off, key_len, first_slice;
  std::uint32_t nslices, flags;
  std::uint64_t outside_domain;
};
// Slices are stored step by step (all slices of step 0, in observation order, then step 1, ...), and so are
// their non-zeros: runs sweep the steps and read the file sequentially.
struct SliceRec {
  std::uint64_t first_entry;
  std::uint32_t step, obs;
};

std::uint64_t align8(std::uint64_t x) {
  return (x + 7) & ~std::uint64_t{7};
}

struct FileStamp {
  bool exists = false;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

FileStamp stamp_of(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return {true, static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// Sequential writer of the temp file, tracking the offset.
class Writer {
 public:
  Writer(const std::filesystem::path& path, std::string target) : target_(std::move(target)) {
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr)
      throw FileError(target_, "",
                      fmt::format("cannot create the packed operator: {}", std::strerror(errno)));
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~Writer() {
    if (f_ != nullptr) std::fclose(f_);
  }
  void write(const void* p, std::size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, f_) != n) fail();
    offset_ += n;
  }
  template <class T>
  std::uint64_t section(const std::vector<T>& v) {
    pad();
    const std::uint64_t at = offset_;
    write(v.data(), v.size() * sizeof(T));
    return at;
  }
  void pad() {
    static constexpr char zeros[8] = {};
    write(zeros, align8(offset_) - offset_);
  }
  void rewrite_header(const Header& h) {
    if (std::fseek(f_, 0, SEEK_SET) != 0) fail();
    if (std::fwrite(&h, sizeof h, 1, f_) != 1) fail();
  }
  void close() {
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) fail();
  }
  std::uint64_t offset() const { return offset_; }

 private:
  [[noreturn]] void fail() const {
    throw FileError(target_, "", fmt::format("write failed: {}", std::strerror(errno)));
  }
  std::FILE* f_ = nullptr;
  std::string target_;
  std::uint64_t offset_ = 0;
};

// A read-only mapping of a whole file.
class MappedBytes {
 public:
  MappedBytes(const std::filesystem::path& path, const std::string& name) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw FileError(name, "", fmt::format("cannot read back the scratch file: {}", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) == 0) size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) data_ = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (data_ == MAP_FAILED)
      throw FileError(name, "", fmt::format("cannot map the scratch file: {}", std::strerror(errno)));
    if (data_ != nullptr) ::madvise(data_, size_, MADV_RANDOM);
  }
  ~MappedBytes() {
    if (data_ != nullptr && data_ != MAP_FAILED) ::munmap(data_, size_);
  }
  MappedBytes(const MappedBytes&) = delete;
  MappedBytes& operator=(const MappedBytes&) = delete;
  const void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

std::uint64_t add_string(std::vector<char>& strings, std::string_view s) {
  const std::uint64_t at = strings.size();
  strings.insert(strings.end(), s.begin(), s.end());
  return at;
}

}  // namespace

// ---- packing ----------------------------------------------------------------------------------------------

PackSummary pack_operator(const std::filesystem::path& out, const std::vector<FileTask>& files,
                          const FootprintSource& source, GridShape grid, const OperatorOptions& options,
                          const Context& ctx) {
  (void)ctx;  // reads are serialised on the HDF5 mutex; packing is one sequential pass
  const std::uint64_t plane = std::uint64_t{grid.nlat} * grid.nlon;
  if (plane == 0 || plane > std::numeric_limits<std::uint32_t>::max())
    throw Error(fmt::format("packed operator: a {} x {} grid does not fit 32-bit cell indices", grid.nlat,
                            grid.nlon));
  // Pass 1: the footprints in file order, their non-zeros into a scratch file next to the output.
  AtomicFile scratch_file(out.parent_path() / (out.filename().string() + ".scratch"));  // never committed
  Writer scratch(scratch_file.temp_path(), out.string());
  struct ReadSlice {
    std::uint64_t first;  // in the scratch file
    std::uint64_t count;
    std::uint32_t step, obs;
  };
  std::vector<ReadSlice> read_slices;  // in observation order
  std::vector<FileRec> file_recs;
  std::vector<ObsRec> obs_recs;
  std::vector<char> strings;
  std::vector<StepRec> steps;  // first-seen order; sorted below
  struct StepHash {
    std::size_t operator()(const std::pair<std::int64_t, std::int64_t>& p) const {
      return static_cast<std::size_t>(mix64(static_cast<std::uint64_t>(p.first) * 0x9e3779b97f4a7c15ULL ^
                                            static_cast<std::uint64_t>(p.second)));
    }
  };
  std::unordered_map<std::pair<std::int64_t, std::int64_t>, std::uint32_t, StepHash> step_of;
  std::vector<Entry> buffer;
  std::uint64_t nnz = 0;
  PackSummary summary;

  std::map<std::string, std::size_t> seen_files;
  for (const FileTask& task : files) {
    const std::string path = task.path.string();
    if (seen_files.contains(path))
      throw Error(fmt::format("packed operator: footprint file '{}' is listed twice", path));
    seen_files.emplace(path, file_recs.size());
    const FileStamp st = stamp_of(task.path);
    FileRec fr{add_string(strings, path), path.size(), st.size, st.mtime_ns, obs_recs.size(), 0, 0};
    const auto reader = source.open(task.path);
    const detail::IndexMap map = detail::index_map(reader->grid(), options, task.path);
    std::map<std::string, bool, std::less<>> keys_done;
    std::map<std::int64_t, bool> times_done;
    Footprint fp;
    for (const ObsTask& o : task.obs) {
      const bool by_key = !o.key.empty();
      if (by_key ? keys_done.contains(o.key) : times_done.contains(o.time)) continue;  // a repeated row
      if (by_key)
        keys_done.emplace(o.key, true);
      else
        times_done.emplace(o.time, true);
      if (obs_recs.size() >= std::numeric_limits<std::uint32_t>::max())
        throw Error("packed operator: more than 2^32 observations");
      const auto obs_index = static_cast<std::uint32_t>(obs_recs.size());
      ObsRec rec{o.time, add_string(strings, o.key), o.key.size(), read_slices.size(), 0, by_key ? kByKey : 0,
                 0};
      std::size_t outside = 0;
      if (detail::read_checked(*reader, o, map, grid, task.path, fp, outside)) {
        rec.flags |= kHasFootprint;
        rec.outside_domain = outside;
        summary.outside_domain += outside;
        if (fp.slices.size() > std::numeric_limits<std::uint32_t>::max())
          throw FileError(path, "", fmt::format("observation '{}': too many slices", fp.key));
        rec.nslices = static_cast<std::uint32_t>(fp.slices.size());
        for (const FootprintSlice& s : fp.slices) {
          const auto [it, added] =
              step_of.try_emplace({s.start, s.end}, static_cast<std::uint32_t>(steps.size()));
          if (added) steps.push_back({s.start, s.end});
          read_slices.push_back({nnz, s.resp.size(), it->second, obs_index});
          buffer.resize(s.resp.size());
          for (std::size_t k = 0; k < s.resp.size(); ++k)
            buffer[k] = {static_cast<std::uint32_t>(static_cast<std::uint64_t>(s.ilat[k]) * grid.nlon +
                                                    static_cast<std::uint64_t>(s.ilon[k])),
                         s.resp[k]};
          scratch.write(buffer.data(), buffer.size() * sizeof(Entry));
          nnz += s.resp.size();
          fr.nnz += s.resp.size();
        }
      } else {
        ++summary.no_footprint;
      }
      obs_recs.push_back(rec);
      ++fr.nobs;
    }
    file_recs.push_back(fr);
    if (options.progress) options.progress(task.obs.size());
  }
  scratch.close();

  // Steps sorted by (start, end); the slices ordered step by step (stable: observation order, then each
  // observation's own slice order, within a step).
  std::vector<std::uint32_t> order(steps.size());
  for (std::uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return std::tie(steps[a].start, steps[a].end) < std::tie(steps[b].start, steps[b].end);
  });
  std::vector<std::uint32_t> rank(steps.size());
  std::vector<StepRec> sorted(steps.size());
  for (std::uint32_t r = 0; r < order.size(); ++r) {
    rank[order[r]] = r;
    sorted[r] = steps[order[r]];
  }
  std::vector<std::uint64_t> step_slices(sorted.size() + 1, 0);
  for (auto& rs : read_slices) {
    rs.step = rank[rs.step];
    ++step_slices[rs.step + 1];
  }
  for (std::size_t p = 0; p < sorted.size(); ++p)
    step_slices[p + 1] += step_slices[p];
  std::vector<std::uint64_t> obs_slices(read_slices.size());  // observation order -> stored slice
  {
    std::vector<std::uint64_t> next(step_slices.begin(), step_slices.end() - 1);
    for (std::size_t k = 0; k < read_slices.size(); ++k)
      obs_slices[k] = next[read_slices[k].step]++;
  }

  // Pass 2: the output, non-zeros copied from the scratch file slice by slice in stored order.
  AtomicFile file(out);
  Writer w(file.temp_path(), out.string());
  const std::vector<char> header_space(kHeaderBytes, 0);
  w.write(header_space.data(), header_space.size());
  std::vector<SliceRec> slices(read_slices.size() + 1);
  {
    std::vector<std::size_t> stored(read_slices.size());
    for (std::size_t k = 0; k < read_slices.size(); ++k)
      stored[obs_slices[k]] = k;
    const MappedBytes scratch_bytes(scratch_file.temp_path(), out.string());
    const auto* scratch_entries = reinterpret_cast<const Entry*>(scratch_bytes.data());
    std::uint64_t at = 0;
    for (std::size_t q = 0; q < stored.size(); ++q) {
      const ReadSlice& rs = read_slices[stored[q]];
      slices[q] = {at, rs.step, rs.obs};
      if (rs.count > 0) w.write(scratch_entries + rs.first, rs.count * sizeof(Entry));
      at += rs.count;
    }
  }
  slices.back() = {nnz, 0, 0};  // sentinel

  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = PackedOperator::kVersion;
  h.byte_order = kByteOrder;
  h.nlat = grid.nlat;
  h.nlon = grid.nlon;
  h.nsteps = sorted.size();
  h.nfiles = file_recs.size();
  h.nobs = obs_recs.size();
  h.nslices = slices.size() - 1;
  h.nnz = nnz;
  h.strings_bytes = strings.size();
  h.off_entries = kHeaderBytes;
  std::vector<double> lats = options.lats, lons = options.lons;
  if (lats.size() != grid.nlat || lons.size() != grid.nlon) lats.clear(), lons.clear();
  h.off_lats = w.section(lats);
  h.off_lons = w.section(lons);
  h.off_steps = w.section(sorted);
  h.off_files = w.section(file_recs);
  h.off_obs = w.section(obs_recs);
  h.off_slices = w.section(slices);
  h.off_step_slices = w.section(step_slices);
  h.off_obs_slices = w.section(obs_slices);
  h.off_strings = w.section(strings);
  w.pad();
  h.file_bytes = w.offset();
  w.rewrite_header(h);
  w.close();
  file.commit();

  summary.files = file_recs.size();
  summary.observations = obs_recs.size();
  summary.slices = slices.size() - 1;
  summary.steps = sorted.size();
  summary.nonzeros = nnz;
  summary.bytes = h.file_bytes;
  return summary;
}

// ---- the mapped file --------------------------------------------------------------------------------------

struct PackedOperator::Impl {
  std::filesystem::path path;
  std::string name;
  void* base = nullptr;
  std::size_t length = 0;
  Header h{};
  const Entry* entries = nullptr;
  std::span<const double> lats, lons;
  std::span<const StepRec> steps;
  std::span<const FileRec> files;
  std::span<const ObsRec> obs;
  std::span<const SliceRec> slices;            // nslices + 1, step by step
  std::span<const std::uint64_t> step_slices;  // nsteps + 1: the slices of step p
  std::span<const std::uint64_t> obs_slices;   // nslices: the observations' slices, in observation order
  std::string_view strings;
  std::unordered_map<std::string, std::size_t> file_index;

  std::string_view string_at(std::uint64_t off, std::uint64_t len) const { return strings.substr(off, len); }

  [[noreturn]] void corrupt(const std::string& what) const {
    throw FileError(name, "", fmt::format("corrupt packed operator: {}", what));
  }

  [[noreturn]] void not_packed(std::size_t file, const ObsTask& task) const {
    const FileRec& f = files[file];
    throw Error(fmt::format(
        "{}: observation at row {} ({} in footprint file '{}') is not in the packed operator: re-run "
        "`fluxkit transport pack` after changing the obsdb",
        name, task.row,
        task.key.empty() ? fmt::format("time {}", fluxkit::cftime::format_epoch_seconds(task.time))
                         : fmt::format("key '{}'", task.key),
        string_at(f.path_off, f.path_len)));
  }

  std::size_t file_of(const std::filesystem::path& p) const {
    const auto it = file_index.find(p.string());
    if (it == file_index.end())
      throw Error(fmt::format(
          "{}: footprint file '{}' is not in the packed operator: re-run `fluxkit transport pack` after "
          "changing the obsdb",
          name, p.string()));
    return it->second;
  }

  // Packed observation index for every task (file order, then observation order): one hash table per file,
  // so linear in the number of observations.
  std::vector<std::size_t> resolve(const std::vector<FileTask>& tasks) const {
    std::vector<std::size_t> out;
    std::unordered_map<std::int64_t, std::size_t> by_time;
    std::unordered_map<std::string_view, std::size_t> by_key;
    for (const FileTask& t : tasks) {
      const std::size_t f = file_of(t.path);
      by_time.clear();
      by_key.clear();
      for (std::uint64_t o = files[f].first_obs; o < files[f].first_obs + files[f].nobs; ++o) {
        if ((obs[o].flags & kByKey) != 0)
          by_key.emplace(string_at(obs[o].key_off, obs[o].key_len), o);
        else
          by_time.emplace(obs[o].time, o);
      }
      for (const ObsTask& task : t.obs) {
        if (task.key.empty()) {
          const auto it = by_time.find(task.time);
          if (it == by_time.end()) not_packed(f, task);
          out.push_back(it->second);
        } else {
          const auto it = by_key.find(task.key);
          if (it == by_key.end()) not_packed(f, task);
          out.push_back(it->second);
        }
      }
    }
    return out;
  }
};

namespace {

template <class T>
std::span<const T> section(const PackedOperator::Impl& m, std::uint64_t off, std::uint64_t count,
                           const char* what) {
  if (off % 8 != 0 || off > m.length || count > (m.length - off) / sizeof(T))
    m.corrupt(fmt::format("the {} section (offset {}, {} records) lies outside the file of {} bytes", what,
                          off, count, m.length));
  return {reinterpret_cast<const T*>(static_cast<const char*>(m.base) + off),
          static_cast<std::size_t>(count)};
}

}  // namespace

PackedOperator::PackedOperator(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw FileError(m.name, "", fmt::format("cannot open the packed operator: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kHeaderBytes)) {
    ::close(fd);
    throw FileError(m.name, "", "not a packed operator (shorter than its header)");
  }
  m.length = static_cast<std::size_t>(st.st_size);
  m.base = ::mmap(nullptr, m.length, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m.base == MAP_FAILED) {
    m.base = nullptr;
    throw FileError(m.name, "", fmt::format("cannot map the packed operator: {}", std::strerror(errno)));
  }
  std::memcpy(&m.h, m.base, sizeof m.h);
  const Header& h = m.h;
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw FileError(m.name, "", "not a packed operator (written by `fluxkit transport pack`)");
  if (h.byte_order != kByteOrder)
    throw FileError(m.name, "", "packed operator written on a machine of the other byte order");
  if (h.version > kVersion)
    throw FileError(m.name, "",
                    fmt::format("packed operator format version {} is newer than this fluxkit reads ({}); "
                                "re-pack or update fluxkit",
                                h.version, kVersion));
  if (h.file_bytes != m.length)
    m.corrupt(
        fmt::format("{} bytes on disk but {} written (truncated or appended to)", m.length, h.file_bytes));
  if (h.nlat == 0 || h.nlon == 0 || h.nlat * h.nlon > std::numeric_limits<std::uint32_t>::max())
    m.corrupt(fmt::format("grid of {} x {} cells", h.nlat, h.nlon));
  if (h.off_entries != kHeaderBytes) m.corrupt("entries not after the header");
  m.entries = section<Entry>(m, h.off_entries, h.nnz, "non-zeros").data();
  m.lats = section<double>(m, h.off_lats, h.off_lons > h.off_lats ? h.nlat : 0, "lats");
  m.lons = section<double>(m, h.off_lons, h.off_steps > h.off_lons ? h.nlon : 0, "lons");
  m.steps = section<StepRec>(m, h.off_steps, h.nsteps, "steps");
  m.files = section<FileRec>(m, h.off_files, h.nfiles, "files");
  m.obs = section<ObsRec>(m, h.off_obs, h.nobs, "observations");
  m.slices = section<SliceRec>(m, h.off_slices, h.nslices + 1, "slices");
  m.step_slices = section<std::uint64_t>(m, h.off_step_slices, h.nsteps + 1, "step index");
  m.obs_slices = section<std::uint64_t>(m, h.off_obs_slices, h.nslices, "observation slices");
  const auto chars = section<char>(m, h.off_strings, h.strings_bytes, "strings");
  m.strings = std::string_view(chars.data(), chars.size());

  // Structure (O(slices + observations)); the cells of the non-zeros are checked by the kernels.
  if (m.step_slices.front() != 0 || m.step_slices.back() != h.nslices)
    m.corrupt("the step index does not cover the slices");
  for (std::size_t p = 0; p < h.nsteps; ++p) {
    if (m.step_slices[p] > m.step_slices[p + 1]) m.corrupt(fmt::format("step index {}", p));
    for (std::uint64_t s = m.step_slices[p]; s < m.step_slices[p + 1]; ++s) {
      const SliceRec& r = m.slices[s];
      if (r.step != p || r.obs >= h.nobs || r.first_entry > m.slices[s + 1].first_entry)
        m.corrupt(
            fmt::format("slice {} (step {} in the index of step {}, observation {} of {}, non-zeros from {})",
                        s, r.step, p, r.obs, h.nobs, r.first_entry));
    }
  }
  for (std::size_t k = 0; k < h.nslices; ++k)
    if (m.obs_slices[k] >= h.nslices) m.corrupt(fmt::format("observation slice {}", k));
  if (m.slices.front().first_entry != 0 || m.slices.back().first_entry != h.nnz)
    m.corrupt("the slices do not cover the non-zeros");
  const auto string_ok = [&](std::uint64_t off, std::uint64_t len) {
    return off <= h.strings_bytes && len <= h.strings_bytes - off;
  };
  for (std::size_t o = 0; o < h.nobs; ++o) {
    const ObsRec& r = m.obs[o];
    if (!string_ok(r.key_off, r.key_len) || r.first_slice > h.nslices ||
        r.nslices > h.nslices - r.first_slice)
      m.corrupt(fmt::format("observation record {}", o));
  }
  for (std::size_t f = 0; f < h.nfiles; ++f) {
    const FileRec& r = m.files[f];
    if (!string_ok(r.path_off, r.path_len) || r.first_obs > h.nobs || r.nobs > h.nobs - r.first_obs)
      m.corrupt(fmt::format("file record {}", f));
    m.file_index.emplace(std::string(m.string_at(r.path_off, r.path_len)), f);
  }
  ::madvise(m.base, m.length, MADV_WILLNEED);
}

PackedOperator::~PackedOperator() {
  if (impl_ && impl_->base != nullptr) ::munmap(impl_->base, impl_->length);
}

const std::filesystem::path& PackedOperator::path() const {
  return impl_->path;
}
GridShape PackedOperator::grid() const {
  return {impl_->h.nlat, impl_->h.nlon};
}
std::span<const double> PackedOperator::lats() const {
  return impl_->lats;
}
std::span<const double> PackedOperator::lons() const {
  return impl_->lons;
}
std::size_t PackedOperator::files() const {
  return impl_->h.nfiles;
}
std::size_t PackedOperator::observations() const {
  return impl_->h.nobs;
}
std::size_t PackedOperator::steps() const {
  return impl_->h.nsteps;
}
std::uint64_t PackedOperator::nonzeros() const {
  return impl_->h.nnz;
}
std::uint64_t PackedOperator::bytes() const {
  return impl_->length;
}

std::uint64_t PackedOperator::nonzeros_of(const std::filesystem::path& file) const {
  const auto it = impl_->file_index.find(file.string());
  return it == impl_->file_index.end() ? 0 : impl_->files[it->second].nnz;
}

std::size_t PackedOperator::check_sources() const {
  std::size_t missing = 0;
  for (const FileRec& f : impl_->files) {
    const std::string path(impl_->string_at(f.path_off, f.path_len));
    const FileStamp st = stamp_of(path);
    if (!st.exists) {
      ++missing;
      continue;
    }
    if (st.size != f.size || st.mtime_ns != f.mtime_ns)
      throw FileError(impl_->name, "",
                      fmt::format("footprint file '{}' changed since it was packed ({} -> {} bytes, modified "
                                  "after packing): re-run `fluxkit transport pack`",
                                  path, f.size, st.size));
  }
  return missing;
}

void PackedOperator::check_grid(GridShape grid, const std::vector<double>& lats,
                                const std::vector<double>& lons) const {
  const Impl& m = *impl_;
  bool same = grid.nlat == m.h.nlat && grid.nlon == m.h.nlon;
  if (same && lats.size() == m.lats.size() && lons.size() == m.lons.size()) {
    for (std::size_t i = 0; same && i < lats.size(); ++i)
      same = std::abs(lats[i] - m.lats[i]) <= 1e-3;
    for (std::size_t j = 0; same && j < lons.size(); ++j)
      same = std::abs(lons[j] - m.lons[j]) <= 1e-3;
  }
  if (!same)
    throw FileError(
        m.name, "",
        fmt::format(
            "mismatched grids: the packed operator is on a {} x {} grid{}, the run on a {} x "
            "{} grid{}: re-pack with the run's rc file",
            m.h.nlat, m.h.nlon,
            m.lats.empty() ? "" : fmt::format(" (centres from {} N, {} E)", m.lats[0], m.lons[0]), grid.nlat,
            grid.nlon,
            lats.empty() || lons.empty() ? "" : fmt::format(" (centres from {} N, {} E)", lats[0], lons[0])));
}

// ---- the kernels ------------------------------------------------------------------------------------------

namespace {

constexpr std::uint32_t kNoStep = std::numeric_limits<std::uint32_t>::max();

// Packed step -> step of `matcher`'s axis (kNoStep when the axis has no exactly equal interval).
std::vector<std::uint32_t> step_map(const PackedOperator::Impl& m, const SliceMatcher& matcher) {
  std::vector<std::uint32_t> map(m.steps.size(), kNoStep);
  for (std::size_t s = 0; s < m.steps.size(); ++s) {
    const std::size_t t = matcher.find(m.steps[s].start, m.steps[s].end);
    if (t != SliceMatcher::npos) map[s] = static_cast<std::uint32_t>(t);
  }
  return map;
}

[[noreturn]] void bad_cell(const PackedOperator::Impl& m, std::uint64_t entry, std::uint32_t cell) {
  m.corrupt(fmt::format("non-zero {} has cell {} outside the {} x {} grid", entry, cell, m.h.nlat, m.h.nlon));
}

// acc[c] += resp * base[c][cell] and total += resp over the non-zeros [e0, e1), in their order (the order of
// the operator on the files: the same sums, bit for bit). N > 0: N categories in registers (the sums are
// latency-bound chains); N = 0: ncat categories. False when a cell lies outside the plane (the sums are then
// left partial: the caller throws).
template <std::size_t N>
bool accumulate_n(std::size_t ncat, const Entry* e0, const Entry* e1, const double* const* base,
                  std::uint32_t plane, double* acc, double& total) {
  double t = total;
  if constexpr (N > 0) {
    double a[N];
    const double* b[N];
    for (std::size_t c = 0; c < N; ++c) {
      a[c] = acc[c];
      b[c] = base[c];
    }
    for (const Entry* e = e0; e != e1; ++e) {
      if (e->cell >= plane) return false;  // corrupt file (the caller names the non-zero)
      const double v = static_cast<double>(e->resp);
      t += v;
      for (std::size_t c = 0; c < N; ++c)
        a[c] += v * b[c][e->cell];
    }
    for (std::size_t c = 0; c < N; ++c)
      acc[c] = a[c];
  } else {
    for (const Entry* e = e0; e != e1; ++e) {
      if (e->cell >= plane) return false;
      const double v = static_cast<double>(e->resp);
      t += v;
      for (std::size_t c = 0; c < ncat; ++c)
        acc[c] += v * base[c][e->cell];
    }
  }
  total = t;
  return true;
}

bool accumulate(std::size_t ncat, const Entry* e0, const Entry* e1, const double* const* base,
                std::uint32_t plane, double* acc, double& total) {
  switch (ncat) {
    case 1:
      return accumulate_n<1>(ncat, e0, e1, base, plane, acc, total);
    case 2:
      return accumulate_n<2>(ncat, e0, e1, base, plane, acc, total);
    case 3:
      return accumulate_n<3>(ncat, e0, e1, base, plane, acc, total);
    case 4:
      return accumulate_n<4>(ncat, e0, e1, base, plane, acc, total);
    default:
      return accumulate_n<0>(ncat, e0, e1, base, plane, acc, total);
  }
}

ForwardResult forward_packed(const detail::Fields& f, const std::vector<FileTask>& files,
                             const PackedOperator& op, const OperatorOptions& options, const Context& ctx) {
  const PackedOperator::Impl& m = op.impl();
  const std::vector<std::size_t> packed = m.resolve(files);
  std::vector<const ObsTask*> tasks;
  tasks.reserve(packed.size());
  for (const FileTask& t : files)
    for (const ObsTask& o : t.obs)
      tasks.push_back(&o);
  const std::size_t naxes = f.axes.size(), ncat = f.data.size(), nsteps = m.steps.size();
  std::vector<std::vector<std::uint32_t>> maps;
  for (const auto& matcher : f.matchers)
    maps.push_back(step_map(m, matcher));
  std::vector<char> usable(nsteps, 1);  // the packed step has a flux step on every axis
  for (std::size_t p = 0; p < nsteps; ++p)
    for (std::size_t a = 0; a < naxes; ++a)
      usable[p] = usable[p] && maps[a][p] != kNoStep;
  const std::size_t plane = f.grid.nlat * f.grid.nlon;

  ForwardResult result;
  result.obs.resize(tasks.size());
  // Each thread takes a block of observations and sweeps the stored slices step by step (reading the file in
  // order, a flux plane in cache for all slices of its step). An observation's slices are sorted by time, so
  // it still receives its slices' sums in its own slice order: the same sums, bit for bit, as the operator on
  // the files, for any thread count.
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  const std::size_t threads = static_cast<std::size_t>(std::max(1, ctx.threads));
  const std::size_t grain = std::max<std::size_t>(16, (tasks.size() + threads - 1) / threads);
  detail::parallel_chunks(
      tasks.size(), ctx.threads, grain, [&](std::size_t begin, std::size_t end, std::size_t) {
        std::vector<std::uint32_t> task_of(m.obs.size(),
                                           kNone);  // packed observation -> task (block-relative)
        std::vector<std::pair<std::size_t, std::size_t>>
            repeats;  // (task, task computing the same footprint)
        for (std::size_t i = begin; i < end; ++i) {
          const std::size_t po = packed[i];
          const ObsRec& o = m.obs[po];
          ObsResult& r = result.obs[i];
          r.row = tasks[i]->row;
          if (task_of[po] != kNone) {
            repeats.emplace_back(i, begin + task_of[po]);
            continue;
          }
          if ((o.flags & kHasFootprint) == 0) {
            r.status = ObsStatus::NoFootprint;
            continue;
          }
          r.outside_domain = o.outside_domain;
          for (std::uint64_t k = o.first_slice; k < o.first_slice + o.nslices; ++k)
            r.dropped += usable[m.slices[m.obs_slices[k]].step] ? 0 : 1;
          if (r.dropped > 0 && !options.truncate) {
            r.status = ObsStatus::OutsidePeriod;
            continue;
          }
          r.status = ObsStatus::Computed;
          r.values.assign(ncat, 0.0);
          r.slices = o.nslices - r.dropped;
          task_of[po] = static_cast<std::uint32_t>(i - begin);
        }
        std::vector<const double*> base(ncat);
        for (std::size_t p = 0; p < nsteps; ++p) {
          if (!usable[p]) continue;
          for (std::size_t c = 0; c < ncat; ++c)
            base[c] = f.data[c] + maps[f.axis_of[c]][p] * plane;
          for (std::uint64_t s = m.step_slices[p]; s < m.step_slices[p + 1]; ++s) {
            const std::uint32_t t = task_of[m.slices[s].obs];
            if (t == kNone) continue;
            ObsResult& r = result.obs[begin + t];
            const std::uint64_t e0 = m.slices[s].first_entry, e1 = m.slices[s + 1].first_entry;
            if (!accumulate(ncat, m.entries + e0, m.entries + e1, base.data(),
                            static_cast<std::uint32_t>(plane), r.values.data(), r.total)) {
              for (std::uint64_t e = e0; e < e1; ++e)
                if (m.entries[e].cell >= plane) bad_cell(m, e, m.entries[e].cell);
            }
          }
        }
        for (const auto& [i, same] : repeats) {
          const std::size_t row = result.obs[i].row;
          result.obs[i] = result.obs[same];
          result.obs[i].row = row;
        }
        if (options.progress) options.progress(end - begin);
      });
  result.recount();
  return result;
}

}  // namespace

ForwardResult PackedOperator::forward_fields(const detail::Fields& f, const std::vector<FileTask>& files,
                                             const OperatorOptions& options, const Context& ctx) const {
  check_grid(f.grid, options.check_grid ? options.lats : std::vector<double>{},
             options.check_grid ? options.lons : std::vector<double>{});
  return forward_packed(f, files, *this, options, ctx);
}

AdjointResult PackedOperator::adjoint(const TimeAxis& axis, GridShape grid,
                                      const std::vector<FileTask>& files, const OperatorOptions& options,
                                      const Context& ctx) const {
  const PackedOperator::Impl& m = impl();
  check_grid(grid, options.check_grid ? options.lats : std::vector<double>{},
             options.check_grid ? options.lons : std::vector<double>{});
  const std::vector<std::size_t> packed = m.resolve(files);
  const std::vector<std::uint32_t> map = step_map(m, SliceMatcher(axis));
  const std::size_t nt = axis.size(), plane = grid.nlat * grid.nlon, nsteps = m.steps.size();

  // The departure of each packed observation that contributes (rows sharing a footprint: their sum).
  AdjointResult result;
  std::vector<double> dy(m.obs.size(), 0.0);
  std::vector<char> contributes(m.obs.size(), 0);
  std::size_t i = 0;
  for (const FileTask& file : files)
    for (const ObsTask& task : file.obs) {
      const std::size_t po = packed[i++];
      const ObsRec& o = m.obs[po];
      if ((o.flags & kHasFootprint) == 0) {
        ++result.no_footprint;
        continue;
      }
      result.outside_domain += o.outside_domain;
      std::size_t unmatched = 0;
      for (std::uint64_t k = o.first_slice; k < o.first_slice + o.nslices; ++k)
        unmatched += map[m.slices[m.obs_slices[k]].step] == kNoStep ? 1 : 0;
      if (unmatched > 0 && !options.truncate) {
        ++result.outside_period;
        continue;
      }
      if (std::isnan(task.dy))
        throw FileError(file.path.string(), "",
                        fmt::format("observation '{}' (row {}): dy is NaN",
                                    task.key.empty() ? legacy_key(task.time) : task.key, task.row));
      ++result.computed;
      if (unmatched > 0) ++result.truncated;
      dy[po] += task.dy;
      contributes[po] = 1;
    }

  // Threads own whole time steps (disjoint planes of the field); within a step, the stored slices are added
  // in their order (observation order): the same sums for any thread count.
  assign_zeros(result.field, nt * plane);
  const std::size_t grain =
      std::max<std::size_t>(1, nsteps / (8 * static_cast<std::size_t>(std::max(1, ctx.threads))));
  detail::parallel_chunks(nsteps, ctx.threads, grain, [&](std::size_t p0, std::size_t p1, std::size_t) {
    for (std::size_t p = p0; p < p1; ++p) {
      if (map[p] == kNoStep) continue;
      double* out = result.field.data() + map[p] * plane;
      for (std::uint64_t s = m.step_slices[p]; s < m.step_slices[p + 1]; ++s) {
        const std::uint32_t po = m.slices[s].obs;
        if (!contributes[po]) continue;
        const double d = dy[po];
        const std::uint64_t e1 = m.slices[s + 1].first_entry;
        for (std::uint64_t e = m.slices[s].first_entry; e < e1; ++e) {
          const Entry x = m.entries[e];
          if (x.cell >= plane) bad_cell(m, e, x.cell);
          out[x.cell] += static_cast<double>(x.resp) * d;
        }
      }
    }
  });
  if (options.progress) options.progress(i);
  return result;
}

}  // namespace fluxkit::transport
