#include "fluxkit/transport/operator.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/memory.hpp"
#include "transport/operator_detail.hpp"

namespace fluxkit::transport {

// ---- time axis and matching -------------------------------------------------------------------------------

TimeAxis TimeAxis::of(const FluxCategory& category) {
  if (category.times_start.size() != category.times_end.size())
    throw Error(fmt::format("flux category '{}': times_start has {} steps but times_end {}", category.name,
                            category.times_start.size(), category.times_end.size()));
  TimeAxis axis;
  axis.start.reserve(category.times_start.size());
  axis.end.reserve(category.times_end.size());
  for (std::size_t k = 0; k < category.times_start.size(); ++k) {
    axis.start.push_back(fluxkit::cftime::civil_to_epoch_seconds(category.times_start[k]));
    axis.end.push_back(fluxkit::cftime::civil_to_epoch_seconds(category.times_end[k]));
  }
  return axis;
}

TimeAxis TimeAxis::regular(std::int64_t start, std::int64_t end, std::int64_t step) {
  if (step <= 0) throw Error(fmt::format("time axis: step must be positive, got {} s", step));
  TimeAxis axis;
  for (std::int64_t t = start; t < end; t += step) {
    axis.start.push_back(t);
    axis.end.push_back(t + step);
  }
  return axis;
}

namespace {
std::uint64_t slot_hash(std::int64_t start, std::int64_t end) {
  return mix64(static_cast<std::uint64_t>(start) * 0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(end));
}
}  // namespace

SliceMatcher::SliceMatcher(const TimeAxis& axis) : size_(axis.size()) {
  if (axis.start.size() != axis.end.size())
    throw Error(fmt::format("time axis: {} starts but {} ends", axis.start.size(), axis.end.size()));
  std::size_t capacity = 16;
  while (capacity < 2 * axis.size())
    capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (std::size_t k = 0; k < axis.size(); ++k) {
    std::size_t h = slot_hash(axis.start[k], axis.end[k]) & mask_;
    for (;; h = (h + 1) & mask_) {
      Slot& s = slots_[h];
      if (s.index == npos) {
        s = Slot{axis.start[k], axis.end[k], k};
        break;
      }
      if (s.start == axis.start[k] && s.end == axis.end[k]) break;  // repeated interval: the first step wins
    }
  }
}

std::size_t SliceMatcher::find(std::int64_t start, std::int64_t end) const {
  for (std::size_t h = slot_hash(start, end) & mask_;; h = (h + 1) & mask_) {
    const Slot& s = slots_[h];
    if (s.index == npos) return npos;
    if (s.start == start && s.end == end) return s.index;
  }
}

// ---- footprint sources ------------------------------------------------------------------------------------

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

namespace {

class FileSource final : public FootprintSource {
 public:
  explicit FileSource(FootprintOpener open) : open_(std::move(open)) {}

  class FileReader final : public Reader {
   public:
    explicit FileReader(std::unique_ptr<FootprintFile> file) : file_(std::move(file)) {
      std::lock_guard lock(hdf5_mutex());
      grid_ = file_->grid();
    }
    ~FileReader() override {
      std::lock_guard lock(hdf5_mutex());
      file_.reset();
    }
    bool read(const ObsTask& obs, Footprint& out) override {
      std::lock_guard lock(hdf5_mutex());
      if (obs.key.empty()) {
        const std::optional<std::string> key = file_->key_at(obs.time);
        if (!key) return false;
        file_->read_into(*key, out);
      } else {
        if (!file_->contains(obs.key)) return false;
        file_->read_into(obs.key, out);
      }
      return true;
    }
    std::optional<FootprintGrid> grid() const override { return grid_; }

   private:
    std::unique_ptr<FootprintFile> file_;
    std::optional<FootprintGrid> grid_;
  };

  std::unique_ptr<Reader> open(const std::filesystem::path& path) const override {
    std::unique_ptr<FootprintFile> file;
    {
      std::lock_guard lock(hdf5_mutex());
      file = open_(path);
    }
    if (!file) throw FileError(path.string(), "", "cannot open the footprint file");
    return std::make_unique<FileReader>(std::move(file));
  }

 private:
  FootprintOpener open_;
};

class MemoryReader final : public FootprintSource::Reader {
 public:
  MemoryReader(const std::map<std::string, Footprint, std::less<>>& footprints,
               std::optional<FootprintGrid> grid)
      : footprints_(footprints), grid_(std::move(grid)) {}
  bool read(const ObsTask& obs, Footprint& out) override {
    const auto it = footprints_.find(obs.key.empty() ? legacy_key(obs.time) : obs.key);
    if (it == footprints_.end()) return false;
    out = it->second;
    return true;
  }
  std::optional<FootprintGrid> grid() const override { return grid_; }

 private:
  const std::map<std::string, Footprint, std::less<>>& footprints_;
  std::optional<FootprintGrid> grid_;
};

}  // namespace

std::unique_ptr<FootprintSource> make_file_footprint_source(FootprintOpener open) {
  return std::make_unique<FileSource>(std::move(open));
}

std::unique_ptr<FootprintSource::Reader> MemoryFootprintSource::open(
    const std::filesystem::path& path) const {
  const auto it = files.find(path.string());
  if (it == files.end()) throw FileError(path.string(), "", "no such footprint file");
  const auto g = grids.find(path.string());
  return std::make_unique<MemoryReader>(
      it->second, g == grids.end() ? std::nullopt : std::optional<FootprintGrid>(g->second));
}

std::string_view status_name(ObsStatus s) {
  switch (s) {
    case ObsStatus::Computed:
      return "computed";
    case ObsStatus::NoFootprint:
      return "no footprint";
    case ObsStatus::OutsidePeriod:
      return "outside the flux period";
  }
  return "?";
}

void ForwardResult::recount() {
  computed = no_footprint = outside_period = truncated = outside_domain = 0;
  for (const auto& r : obs) {
    outside_domain += r.outside_domain;
    switch (r.status) {
      case ObsStatus::Computed:
        ++computed;
        if (r.dropped > 0) ++truncated;
        break;
      case ObsStatus::NoFootprint:
        ++no_footprint;
        break;
      case ObsStatus::OutsidePeriod:
        ++outside_period;
        break;
    }
  }
}

// ---- the kernels ------------------------------------------------------------------------------------------

namespace detail {

Fields fields_of(const FluxFile& flux) {
  if (flux.categories.empty()) throw Error("flux file: no flux category");
  Fields f;
  const FluxCategory& first = flux.categories.front();
  f.grid = {first.nlat, first.nlon};
  for (const auto& c : flux.categories) {
    if (c.nlat != first.nlat || c.nlon != first.nlon)
      throw Error(fmt::format("flux categories '{}' ({}x{}) and '{}' ({}x{}) are on different grids",
                              first.name, first.nlat, first.nlon, c.name, c.nlat, c.nlon));
    if (c.emis.size() != c.nt * c.nlat * c.nlon)
      throw Error(fmt::format("flux category '{}': emis has {} values, expected nt x nlat x nlon = {}x{}x{}",
                              c.name, c.emis.size(), c.nt, c.nlat, c.nlon));
    TimeAxis axis = TimeAxis::of(c);
    if (axis.size() != c.nt)
      throw Error(fmt::format("flux category '{}': {} time steps in times_start/times_end, expected nt = {}",
                              c.name, axis.size(), c.nt));
    const auto it = std::find(f.axes.begin(), f.axes.end(), axis);
    if (it == f.axes.end()) {
      f.axis_of.push_back(f.axes.size());
      f.axes.push_back(std::move(axis));
    } else {
      f.axis_of.push_back(static_cast<std::size_t>(it - f.axes.begin()));
    }
    f.data.push_back(c.emis.data());
  }
  for (const auto& a : f.axes)
    f.matchers.emplace_back(a);
  return f;
}

OperatorOptions with_flux_grid(const FluxFile& flux, const OperatorOptions& options) {
  OperatorOptions o = options;
  if (flux.categories.empty()) return o;
  const FluxCategory& first = flux.categories.front();
  if (!options.check_grid || !options.lats.empty() || !options.lons.empty() ||
      first.lats.size() != first.nlat || first.lons.size() != first.nlon)
    return o;
  o.lats.assign(first.lats.begin(), first.lats.end());
  o.lons.assign(first.lons.begin(), first.lons.end());
  return o;
}

void check_slice(const FootprintSlice& s, GridShape grid, const std::filesystem::path& path,
                 std::string_view key) {
  const auto where = [&] {
    return fmt::format("observation '{}', slice [{}, {})", key,
                       fluxkit::cftime::format_epoch_seconds(s.start),
                       fluxkit::cftime::format_epoch_seconds(s.end));
  };
  if (s.ilat.size() != s.resp.size() || s.ilon.size() != s.resp.size())
    throw FileError(path.string(), "",
                    fmt::format("{}: resp, ilats and ilons have different lengths ({}, {}, {})", where(),
                                s.resp.size(), s.ilat.size(), s.ilon.size()));
  const auto nlat = static_cast<std::int64_t>(grid.nlat), nlon = static_cast<std::int64_t>(grid.nlon);
  for (std::size_t k = 0; k < s.resp.size(); ++k) {
    const std::int64_t i = s.ilat[k], j = s.ilon[k];
    if (i < 0 || i >= nlat || j < 0 || j >= nlon)
      throw FileError(
          path.string(), "",
          fmt::format("{}: index (ilat {}, ilon {}) of non-zero {} is outside the {} x {} flux grid", where(),
                      i, j, k, grid.nlat, grid.nlon));
  }
}

namespace {

std::string describe_grid(const std::vector<double>& lats, const std::vector<double>& lons) {
  if (lats.empty() || lons.empty()) return fmt::format("{} x {}", lats.size(), lons.size());
  return fmt::format("{} x {}, centres {}..{} N, {}..{} E", lats.size(), lons.size(), lats.front(),
                     lats.back(), lons.front(), lons.back());
}

// The offset at which `inner` lies in `outer`, cell for cell within 1e-3 degrees; nullopt when it does not.
std::optional<std::int64_t> sub_axis_offset(const std::vector<double>& outer,
                                            const std::vector<double>& inner) {
  if (inner.empty() || inner.size() > outer.size()) return std::nullopt;
  for (std::size_t d = 0; d + inner.size() <= outer.size(); ++d) {
    if (std::abs(outer[d] - inner[0]) > 1e-3) continue;
    bool same = true;
    for (std::size_t i = 1; same && i < inner.size(); ++i)
      same = std::abs(outer[d + i] - inner[i]) <= 1e-3;
    if (same) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

IndexMap index_map(const std::optional<FootprintGrid>& g, const OperatorOptions& options,
                   const std::filesystem::path& path) {
  IndexMap map;
  if (!options.check_grid || (options.lats.empty() && options.lons.empty()) || !g) return map;
  const auto di = sub_axis_offset(g->lats, options.lats);
  const auto dj = sub_axis_offset(g->lons, options.lons);
  if (!di || !dj)
    throw FileError(path.string(), "",
                    fmt::format("mismatched grids: the footprints are on a {} grid, the fluxes on a {} grid "
                                "(neither the same grid nor a sub-grid of it)",
                                describe_grid(g->lats, g->lons), describe_grid(options.lats, options.lons)));
  map.file_nlat = g->lats.size();
  map.file_nlon = g->lons.size();
  map.flux_nlat = options.lats.size();
  map.flux_nlon = options.lons.size();
  map.di = *di;
  map.dj = *dj;
  map.identity = map.di == 0 && map.dj == 0 && map.file_nlat == options.lats.size() &&
                 map.file_nlon == options.lons.size();
  return map;
}

std::size_t apply_index_map(Footprint& fp, const IndexMap& map, const std::filesystem::path& path,
                            std::string_view key) {
  if (map.identity) return 0;
  const GridShape file_grid{map.file_nlat, map.file_nlon};
  const auto nlat = static_cast<std::int64_t>(map.flux_nlat), nlon = static_cast<std::int64_t>(map.flux_nlon);
  std::size_t dropped = 0;
  for (auto& s : fp.slices) {
    check_slice(s, file_grid, path, key);  // indices within the file's own grid
    std::size_t w = 0;
    for (std::size_t k = 0; k < s.resp.size(); ++k) {
      const std::int64_t i = s.ilat[k] - map.di, j = s.ilon[k] - map.dj;
      if (i < 0 || j < 0 || i >= nlat || j >= nlon) {
        ++dropped;
        continue;
      }
      s.ilat[w] = static_cast<std::int32_t>(i);
      s.ilon[w] = static_cast<std::int32_t>(j);
      s.resp[w] = s.resp[k];
      ++w;
    }
    s.ilat.resize(w);
    s.ilon.resize(w);
    s.resp.resize(w);
  }
  return dropped;
}

bool read_checked(FootprintSource::Reader& reader, const ObsTask& task, const IndexMap& map, GridShape grid,
                  const std::filesystem::path& path, Footprint& out, std::size_t& outside_domain) {
  if (!reader.read(task, out)) return false;
  const std::string_view key = out.key.empty() ? std::string_view(task.key) : std::string_view(out.key);
  outside_domain += apply_index_map(out, map, path, key);
  for (const auto& s : out.slices)
    check_slice(s, grid, path, key);
  return true;
}

}  // namespace detail

namespace {

using namespace detail;

// Runs fn(position, file index, worker) over the files, largest weight first, on up to `threads` threads. The
// error reported is the one of the first failing file in schedule order, whatever the thread count.
template <class Fn>
void run_files(const std::vector<FileTask>& files, int threads, const std::vector<std::size_t>& order,
               Fn&& fn) {
  parallel_chunks(files.size(), threads, 1, [&](std::size_t position, std::size_t, std::size_t worker) {
    fn(position, order[position], worker);
  });
}

// Indices of `weights`, largest first (ties in index order).
std::vector<std::size_t> largest_first(const std::vector<std::uint64_t>& weights) {
  std::vector<std::size_t> order(weights.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return weights[a] > weights[b]; });
  return order;
}

std::vector<std::size_t> schedule(const std::vector<FileTask>& files) {
  std::vector<std::uint64_t> weights;
  weights.reserve(files.size());
  for (const auto& f : files)
    weights.push_back(f.weight);
  return largest_first(weights);
}

// Matches the slices of a footprint on the given matchers: step[s * naxes + a], npos when unmatched. Returns
// the number of slices unmatched on at least one axis.
std::size_t match_slices(const Footprint& fp, const SliceMatcher* matchers, std::size_t naxes,
                         std::vector<std::size_t>& step) {
  step.assign(fp.slices.size() * naxes, SliceMatcher::npos);
  std::size_t unmatched = 0;
  for (std::size_t s = 0; s < fp.slices.size(); ++s) {
    bool ok = true;
    for (std::size_t a = 0; a < naxes; ++a) {
      step[s * naxes + a] = matchers[a].find(fp.slices[s].start, fp.slices[s].end);
      ok = ok && step[s * naxes + a] != SliceMatcher::npos;
    }
    if (!ok) ++unmatched;
  }
  return unmatched;
}

}  // namespace

ForwardResult FootprintOperator::forward_fields(const Fields& f, const std::vector<FileTask>& files,
                                                const OperatorOptions& options, const Context& ctx) const {
  const FootprintSource& source = *source_;
  ForwardResult result;
  std::vector<std::size_t> offset(files.size() + 1, 0);
  for (std::size_t i = 0; i < files.size(); ++i)
    offset[i + 1] = offset[i] + files[i].obs.size();
  result.obs.resize(offset.back());
  const std::size_t ncat = f.data.size(), naxes = f.axes.size(), nlon = f.grid.nlon;
  const std::size_t plane = f.grid.nlat * f.grid.nlon;

  run_files(files, ctx.threads, schedule(files), [&](std::size_t, std::size_t fi, std::size_t) {
    const FileTask& file = files[fi];
    const auto reader = source.open(file.path);
    const IndexMap map = index_map(reader->grid(), options, file.path);
    std::vector<std::size_t> step;
    std::vector<double> acc(ncat);
    std::vector<const double*> base(ncat);
    Footprint footprint;
    const Footprint* fp = &footprint;
    for (std::size_t o = 0; o < file.obs.size(); ++o) {
      const ObsTask& task = file.obs[o];
      ObsResult& r = result.obs[offset[fi] + o];
      r = ObsResult{};
      r.row = task.row;
      if (!read_checked(*reader, task, map, f.grid, file.path, footprint, r.outside_domain)) {
        r.status = ObsStatus::NoFootprint;
        continue;
      }
      r.dropped = match_slices(*fp, f.matchers.data(), naxes, step);
      if (r.dropped > 0 && !options.truncate) {
        r.status = ObsStatus::OutsidePeriod;
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double total = 0.0;
      for (std::size_t si = 0; si < fp->slices.size(); ++si) {
        const FootprintSlice& s = fp->slices[si];
        bool used = true;
        for (std::size_t a = 0; a < naxes; ++a)
          used = used && step[si * naxes + a] != SliceMatcher::npos;
        if (!used) continue;
        ++r.slices;
        for (std::size_t c = 0; c < ncat; ++c)
          base[c] = f.data[c] + step[si * naxes + f.axis_of[c]] * plane;
        const std::size_t nk = s.resp.size();
        for (std::size_t k = 0; k < nk; ++k) {
          const double v = static_cast<double>(s.resp[k]);
          const std::size_t cell =
              static_cast<std::size_t>(s.ilat[k]) * nlon + static_cast<std::size_t>(s.ilon[k]);
          total += v;
          for (std::size_t c = 0; c < ncat; ++c)
            acc[c] += v * base[c][cell];
        }
      }
      r.status = ObsStatus::Computed;
      r.values = acc;
      r.total = total;
    }
    if (options.progress) options.progress(file.obs.size());
  });

  result.recount();
  return result;
}

ForwardResult Operator::forward(const FluxFile& flux, const std::vector<FileTask>& files,
                                const OperatorOptions& options, const Context& ctx) const {
  return forward_fields(fields_of(flux), files, with_flux_grid(flux, options), ctx);
}

ForwardResult Operator::forward(const std::vector<const double*>& fields, const TimeAxis& axis,
                                GridShape grid, const std::vector<FileTask>& files,
                                const OperatorOptions& options, const Context& ctx) const {
  if (fields.empty()) throw Error("transport forward: no flux field");
  Fields f;
  f.grid = grid;
  f.axes.push_back(axis);
  f.matchers.emplace_back(axis);
  f.axis_of.assign(fields.size(), 0);
  f.data = fields;
  return forward_fields(f, files, options, ctx);
}

AdjointTestResult Operator::adjoint_test(const TimeAxis& axis, GridShape grid, std::size_t ncategories,
                                         const std::vector<FileTask>& files, const OperatorOptions& options,
                                         const Context& ctx, std::uint64_t seed) const {
  return adjoint_test_with(
      axis, grid, ncategories, files, seed,
      [&](const Fields& f) { return forward_fields(f, files, options, ctx); },
      [&](const std::vector<FileTask>& with_dy) { return adjoint(axis, grid, with_dy, options, ctx); });
}

AdjointResult FootprintOperator::adjoint(const TimeAxis& axis, GridShape grid,
                                         const std::vector<FileTask>& files, const OperatorOptions& options,
                                         const Context& ctx) const {
  const FootprintSource& source = *source_;
  const SliceMatcher matcher(axis);
  const std::size_t nt = axis.size(), plane = grid.nlat * grid.nlon, nlon = grid.nlon;
  AdjointResult result;
  assign_zeros(result.field, nt * plane);

  struct FileCounts {
    std::size_t computed = 0, no_footprint = 0, outside_period = 0, truncated = 0, outside_domain = 0;
  };
  std::vector<FileCounts> counts(files.size());
  // Contributions are added into the field in schedule order (not completion order): exact for any thread
  // count.
  std::mutex commit_mutex;
  std::map<std::size_t, std::vector<std::pair<std::size_t, double>>> pending;
  std::size_t next_commit = 0;
  // One thread takes the files in schedule order: its products go straight into the field, in the order the
  // contribution would add them (the same sums), without the contribution's memory.
  const bool direct = ctx.threads <= 1;

  run_files(files, ctx.threads, schedule(files), [&](std::size_t position, std::size_t fi, std::size_t) {
    const FileTask& file = files[fi];
    FileCounts& n = counts[fi];
    if (direct && position != next_commit)
      throw Error("transport adjoint: files out of schedule order on one thread (bug)");
    // The file's products resp * dy with their field index, added into the field later in schedule order:
    // about 16 bytes per non-zero of the file (less than the file itself), whatever the length of the axis.
    std::vector<std::pair<std::size_t, double>> contribution;
    {
      const auto reader = source.open(file.path);
      const IndexMap map = index_map(reader->grid(), options, file.path);
      std::vector<std::size_t> step;
      Footprint footprint;
      const Footprint* fp = &footprint;
      for (const ObsTask& task : file.obs) {
        if (!read_checked(*reader, task, map, grid, file.path, footprint, n.outside_domain)) {
          ++n.no_footprint;
          continue;
        }
        const std::string_view key = fp->key.empty() ? std::string_view(task.key) : std::string_view(fp->key);
        const std::size_t unmatched = match_slices(*fp, &matcher, 1, step);
        if (unmatched > 0 && !options.truncate) {
          ++n.outside_period;
          continue;
        }
        if (std::isnan(task.dy))
          throw FileError(file.path.string(), "",
                          fmt::format("observation '{}' (row {}): dy is NaN", key, task.row));
        ++n.computed;
        if (unmatched > 0) ++n.truncated;
        const double dy = task.dy;
        for (std::size_t si = 0; si < fp->slices.size(); ++si) {
          const std::size_t t = step[si];
          if (t == SliceMatcher::npos) continue;
          const FootprintSlice& s = fp->slices[si];
          const std::size_t nk = s.resp.size();
          for (std::size_t k = 0; k < nk; ++k) {
            const std::size_t cell =
                static_cast<std::size_t>(s.ilat[k]) * nlon + static_cast<std::size_t>(s.ilon[k]);
            const double v = static_cast<double>(s.resp[k]) * dy;
            if (direct)
              result.field[t * plane + cell] += v;
            else
              contribution.emplace_back(t * plane + cell, v);
          }
        }
      }
    }
    if (direct) {
      ++next_commit;
    } else {
      std::lock_guard lock(commit_mutex);
      pending.emplace(position, std::move(contribution));
      for (auto it = pending.find(next_commit); it != pending.end(); it = pending.find(next_commit)) {
        for (const auto& [idx, v] : it->second)
          result.field[idx] += v;
        pending.erase(it);
        ++next_commit;
      }
    }
    if (options.progress) options.progress(file.obs.size());
  });

  for (const auto& n : counts) {
    result.computed += n.computed;
    result.no_footprint += n.no_footprint;
    result.outside_period += n.outside_period;
    result.truncated += n.truncated;
    result.outside_domain += n.outside_domain;
  }
  return result;
}

std::vector<int> balance_by_weight(const std::vector<std::uint64_t>& weights, int ranks) {
  if (ranks < 1) throw Error(fmt::format("cannot split the work over {} ranks", ranks));
  const std::vector<std::size_t> order = largest_first(weights);
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> rank(weights.size(), 0);
  for (const std::size_t i : order) {
    const auto r = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    rank[i] = static_cast<int>(r);
    load[r] += std::max<std::uint64_t>(weights[i], 1);
  }
  return rank;
}

double adjoint_test_value(double hx_y, double x_hty) {
  if (x_hty == 0.0) return hx_y == 0.0 ? 0.0 : 1.0;
  return static_cast<double>(1.0L - static_cast<long double>(hx_y) / static_cast<long double>(x_hty));
}

// ---- output columns ---------------------------------------------------------------------------------------

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // [-]d[.ddd]e(+|-)dd
  const std::size_t epos = sci.find('e');
  std::string_view mant = sci.substr(0, epos);
  std::string out;
  if (mant.front() == '-') {
    out = "-";
    mant.remove_prefix(1);
  }
  std::string digits;
  for (const char ch : mant)
    if (ch != '.') digits += ch;
  int exp10 = 0;
  std::string_view e = sci.substr(epos + 1);
  if (e.front() == '+') e.remove_prefix(1);
  std::from_chars(e.data(), e.data() + e.size(), exp10);
  const int decpt = exp10 + 1;  // value = 0.digits x 10^decpt
  const int nd = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= nd) {
      out += digits + std::string(static_cast<std::size_t>(decpt - nd), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
             digits.substr(static_cast<std::size_t>(decpt));
    }
  } else {
    out += digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp10 < 0 ? '-' : '+', std::abs(exp10));
  }
  return out;
}

std::string python_str_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (const char ch : s) {
    if (ch == '\\' || ch == q) {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\r') {
      out += "\\r";
    } else {
      out += ch;
    }
  }
  out += q;
  return out;
}

namespace {

std::size_t ensure_column(CsvTable& t, std::string_view name) {
  for (std::size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c] == name) return c;
  t.columns.emplace_back(name);
  for (auto& row : t.rows)
    row.resize(t.columns.size());
  return t.columns.size() - 1;
}

// A float cell as pandas writes it: repr, NaN as an empty field.
std::string csv_number(double v) {
  return std::isnan(v) ? std::string() : python_float_repr(v);
}

// The index label as pandas writes the float `id` column: repr of the number, or the label itself.
std::string id_of(std::string_view label) {
  double v = 0.0;
  const auto res = std::from_chars(label.data(), label.data() + label.size(), v);
  if (res.ec == std::errc() && res.ptr == label.data() + label.size()) return python_float_repr(v);
  return std::string(label);
}

}  // namespace

void write_forward_columns(CsvTable& observations, const ForwardResult& result,
                           const std::vector<std::string>& flux_categories,
                           const std::vector<std::string>& rc_categories) {
  std::vector<std::size_t> rc_in_flux;
  for (const auto& cat : rc_categories) {
    const auto it = std::find(flux_categories.begin(), flux_categories.end(), cat);
    if (it == flux_categories.end())
      throw Error(fmt::format("category '{}' of the rc file is not a category of the flux file", cat));
    rc_in_flux.push_back(static_cast<std::size_t>(it - flux_categories.begin()));
  }
  const std::size_t c_id = ensure_column(observations, "id");
  const std::size_t c_totals = ensure_column(observations, "totals");
  const std::size_t c_model = ensure_column(observations, "model");
  const std::size_t c_fg = ensure_column(observations, "foreground");
  std::vector<std::size_t> c_cat;
  for (const auto& cat : rc_categories)
    c_cat.push_back(ensure_column(observations, cat));

  for (auto& row : observations.rows) {
    row.resize(observations.columns.size());
    row[c_id] = row[c_totals] = row[c_model] = "";
    for (const std::size_t c : c_cat)
      row[c] = "";
    row[c_fg] = "0.0";
  }
  for (const ObsResult& r : result.obs) {
    if (r.status != ObsStatus::Computed) continue;
    if (r.row >= observations.rows.size())
      throw Error(fmt::format("forward result for row {} but the observations table has {} rows", r.row,
                              observations.rows.size()));
    if (r.values.size() != flux_categories.size())
      throw Error(fmt::format("forward result for row {} has {} values for {} flux categories", r.row,
                              r.values.size(), flux_categories.size()));
    auto& row = observations.rows[r.row];
    row[c_id] = id_of(r.row < observations.index.size() ? observations.index[r.row] : std::to_string(r.row));
    row[c_totals] = csv_number(r.total);
    std::string model = "{";
    for (std::size_t c = 0; c < flux_categories.size(); ++c) {
      if (c > 0) model += ", ";
      model += python_str_repr(flux_categories[c]) + ": " + python_float_repr(r.values[c]);
    }
    row[c_model] = model + "}";
    double fg = 0.0;
    for (std::size_t i = 0; i < rc_categories.size(); ++i) {
      const double v = r.values[rc_in_flux[i]];
      row[c_cat[i]] = csv_number(v);
      fg += v;
    }
    row[c_fg] = csv_number(fg);
  }
}

}  // namespace fluxkit::transport
