#include "fluxkit/dataset/sample_store.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/dataset/data_source.hpp"

namespace fluxkit {

namespace {

constexpr const char* kTimeUnits = "days since 1900-01-01 00:00:00";

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    out.push_back(item);
  return out;
}

}  // namespace

// ---- writer
// -------------------------------------------------------------------------------------------------

SampleStoreWriter::SampleStoreWriter(const std::filesystem::path& path, const StoreHeader& h,
                                     const Provenance& prov)
    : w_(path), header_(h) {
  const std::size_t T = static_cast<std::size_t>(h.months), F = h.features.size();
  w_.add_dim("cell", 0);  // unlimited: cells are appended as they stream in
  w_.add_dim("time", T);
  w_.add_dim("feature", F);
  const nc::Compression none{};
  const std::size_t chunk_cells =
      std::max<std::size_t>(1, std::min<std::size_t>(4096, (1u << 20) / (T * F * 4) + 1));
  w_.add_var("inputs", NC_FLOAT, {"cell", "time", "feature"}, none, {chunk_cells, T, F});
  w_.put_att("inputs", "long_name", "input features per cell and month, physical units (see feature_units)");
  w_.add_var("target", NC_FLOAT, {"cell", "time"}, none, {chunk_cells * F, T});
  w_.put_att("target", "long_name", h.target);
  w_.put_att("target", "units", h.target_units);
  for (const char* v : {"lat", "lon", "area"})
    w_.add_var(v, NC_DOUBLE, {"cell"}, none, {4096});
  w_.put_att("lat", "standard_name", "latitude");
  w_.put_att("lat", "units", "degrees_north");
  w_.put_att("lon", "standard_name", "longitude");
  w_.put_att("lon", "units", "degrees_east");
  w_.put_att("area", "standard_name", "cell_area");
  w_.put_att("area", "units", "m2");
  for (const char* v : {"y", "x"}) {
    w_.add_var(v, NC_INT, {"cell"}, none, {4096});
    w_.put_att(v, "long_name", fmt::format("grid index along {} in the source files (0-based)", v));
  }
  w_.add_var("time", NC_DOUBLE, {"time"});
  w_.put_att("time", "standard_name", "time");
  w_.put_att("time", "units", kTimeUnits);
  w_.put_att("time", "calendar", h.calendar);
  w_.add_var("feature_mean", NC_DOUBLE, {"feature"});
  w_.add_var("feature_std", NC_DOUBLE, {"feature"});
  w_.add_var("target_mean", NC_DOUBLE, {});
  w_.add_var("target_std", NC_DOUBLE, {});
  for (const char* v : {"feature_mean", "feature_std", "target_mean", "target_std"})
    w_.put_att(v, "long_name", "z-normalisation statistic of the training cell-months (std with ddof = 1)");

  w_.put_provenance(prov);
  w_.put_att("", "title",
             fmt::format("fluxkit sample store: {} {} {} {}-{}", h.split, h.experiment, h.region,
                         h.first_year, h.last_year));
  w_.put_att("", "fluxkit_store_version", kSampleStoreVersion);
  w_.put_att("", "split", h.split);
  w_.put_att("", "experiment", h.experiment);
  w_.put_att("", "region", h.region);
  w_.put_att("", "first_year", h.first_year);
  w_.put_att("", "last_year", h.last_year);
  w_.put_att("", "features", fmt::format("{}", fmt::join(h.features, ",")));
  std::string statics;
  for (std::size_t f = 0; f < F; ++f)
    statics += (f ? "," : "") + std::string(h.is_static[f] ? "1" : "0");
  w_.put_att("", "feature_is_static", statics);
  w_.put_att("", "target_name", h.target);
  w_.put_att("", "window", h.window);
  w_.put_att("", "lead", h.lead);
  w_.put_att("", "first_month", cftime::format(h.first_month));
  w_.put_att("", "target_start", h.target_start);
  w_.put_att("", "fraction", h.fraction);
  w_.put_att("", "subsample_mode", h.subsample_mode);
  w_.put_att("", "subsample_seed", fmt::format("{}", h.seed));
  w_.put_att("", "grid_ny", static_cast<int>(h.grid_ny));
  w_.put_att("", "grid_nx", static_cast<int>(h.grid_nx));
  w_.put_att("", "source", h.source);
  w_.end_define();

  const cftime::TimeUnits units = cftime::parse_units(kTimeUnits, h.calendar);
  const cftime::MonthlyAxis axis{h.first_month, h.months};
  const auto mid = axis.mid_month_offsets(units);
  w_.write("time", std::span<const double>(mid));
}

void SampleStoreWriter::append(std::span<const CellCoords> cells, std::span<const float> inputs,
                               std::span<const float> target) {
  const std::size_t n = cells.size(), T = static_cast<std::size_t>(header_.months),
                    F = header_.features.size();
  if (inputs.size() != n * T * F || target.size() != n * T)
    throw Error(
        fmt::format("SampleStoreWriter::append: {} cells need {} inputs and {} targets, got {} and {}", n,
                    n * T * F, n * T, inputs.size(), target.size()));
  if (n == 0) return;
  std::vector<double> lat(n), lon(n), area(n);
  std::vector<std::int32_t> y(n), x(n);
  for (std::size_t i = 0; i < n; ++i) {
    lat[i] = cells[i].lat, lon[i] = cells[i].lon, area[i] = cells[i].area, y[i] = cells[i].y,
    x[i] = cells[i].x;
  }
  const std::size_t s1[1] = {cells_}, c1[1] = {n};
  w_.write("lat", std::span<const double>(lat), s1, c1);
  w_.write("lon", std::span<const double>(lon), s1, c1);
  w_.write("area", std::span<const double>(area), s1, c1);
  w_.write("y", std::span<const std::int32_t>(y), s1, c1);
  w_.write("x", std::span<const std::int32_t>(x), s1, c1);
  const std::size_t s3[3] = {cells_, 0, 0}, c3[3] = {n, T, F};
  w_.write("inputs", inputs, s3, c3);
  const std::size_t s2[2] = {cells_, 0}, c2[2] = {n, T};
  w_.write("target", target, s2, c2);
  cells_ += n;
}

void SampleStoreWriter::commit(const Normalisation& stats) {
  w_.write("feature_mean", std::span<const double>(stats.feature_mean));
  w_.write("feature_std", std::span<const double>(stats.feature_std));
  w_.write("target_mean", std::span<const double>(&stats.target_mean, 1));
  w_.write("target_std", std::span<const double>(&stats.target_std, 1));
  w_.commit();
}

// ---- reader
// -------------------------------------------------------------------------------------------------

SampleStore::SampleStore(const std::filesystem::path& path, std::size_t cell_begin, std::size_t cell_end)
    : path_(path) {
  const nc::File f(path);
  const std::string p = path.string();
  auto text = [&](const char* name) {
    auto v = f.text_attribute("", name);
    if (!v)
      throw FileError(p, "", fmt::format("not a fluxkit sample store: global attribute '{}' missing", name));
    return *v;
  };
  auto number = [&](const char* name) {
    auto v = f.number_attribute("", name);
    if (!v || v->empty())
      throw FileError(p, "", fmt::format("not a fluxkit sample store: global attribute '{}' missing", name));
    return (*v)[0];
  };
  const int version = static_cast<int>(number("fluxkit_store_version"));
  if (version > kSampleStoreVersion)
    throw FileError(p, "",
                    fmt::format("sample store format version {} is newer than this fluxkit reads ({})",
                                version, kSampleStoreVersion));
  header_.split = text("split");
  header_.experiment = text("experiment");
  header_.region = text("region");
  header_.first_year = static_cast<int>(number("first_year"));
  header_.last_year = static_cast<int>(number("last_year"));
  header_.features = split_commas(text("features"));
  for (const auto& s : split_commas(text("feature_is_static")))
    header_.is_static.push_back(s == "1");
  header_.target = text("target_name");
  header_.target_units = f.text_attribute("target", "units").value_or("");
  header_.window = static_cast<int>(number("window"));
  header_.lead = static_cast<int>(number("lead"));
  header_.target_start = static_cast<int>(number("target_start"));
  header_.fraction = number("fraction");
  header_.subsample_mode = text("subsample_mode");
  header_.seed = std::stoull(text("subsample_seed"));
  header_.grid_ny = static_cast<std::size_t>(number("grid_ny"));
  header_.grid_nx = static_cast<std::size_t>(number("grid_nx"));
  header_.source = text("source");
  header_.calendar = f.text_attribute("time", "calendar").value_or("standard");
  header_.months = static_cast<int>(f.dim_length("time"));
  {
    const auto fm = text("first_month");
    const auto dash = fm.find('-');
    if (dash == std::string::npos) throw FileError(p, "", fmt::format("bad first_month '{}'", fm));
    header_.first_month = cftime::YearMonth{std::stoi(fm.substr(0, dash)), std::stoi(fm.substr(dash + 1))};
  }
  const std::size_t F = header_.features.size(), T = months();
  if (f.dim_length("feature") != F || header_.is_static.size() != F)
    throw FileError(p, "inputs",
                    fmt::format("{} features in the attributes, {} in the data", F, f.dim_length("feature")));
  if (header_.window < 1 || header_.target_start < header_.window - 1 + header_.lead ||
      header_.target_start > header_.months)
    throw FileError(p, "",
                    fmt::format("inconsistent window {}, lead {}, target_start {}, months {}", header_.window,
                                header_.lead, header_.target_start, header_.months));
  for (std::size_t i = 0; i < F; ++i)
    (header_.is_static[i] ? static_ : dynamic_).push_back(i);

  stats_.feature_mean = f.read_double("feature_mean");
  stats_.feature_std = f.read_double("feature_std");
  stats_.target_mean = f.read_double("target_mean").at(0);
  stats_.target_std = f.read_double("target_std").at(0);
  for (std::size_t i = 0; i < F; ++i)
    if (!(std::isfinite(stats_.feature_mean[i]) && stats_.feature_std[i] > 0))
      throw FileError(p, "feature_std",
                      fmt::format("invalid statistics for feature '{}'", header_.features[i]));
  if (!(std::isfinite(stats_.target_mean) && stats_.target_std > 0))
    throw FileError(p, "target_std", "invalid target statistics");

  total_cells_ = f.dim_length("cell");
  cell_end = std::min(cell_end, total_cells_);
  cell_begin = std::min(cell_begin, cell_end);
  const std::size_t n = cell_end - cell_begin;
  coords_.resize(n);
  if (n > 0) {
    const std::size_t s1[1] = {cell_begin}, c1[1] = {n};
    const auto lat = f.read_double("lat", s1, c1), lon = f.read_double("lon", s1, c1),
               area = f.read_double("area", s1, c1), yy = f.read_double("y", s1, c1),
               xx = f.read_double("x", s1, c1);
    for (std::size_t i = 0; i < n; ++i)
      coords_[i] = {lat[i], lon[i], static_cast<std::int32_t>(yy[i]), static_cast<std::int32_t>(xx[i]),
                    area[i]};
    const std::size_t s3[3] = {cell_begin, 0, 0}, c3[3] = {n, T, F};
    inputs_ = f.read_float("inputs", s3, c3);
    const std::size_t s2[2] = {cell_begin, 0}, c2[2] = {n, T};
    target_ = f.read_float("target", s2, c2);
  }
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    const std::size_t fi = i % F;
    if (std::isnan(inputs_[i]))
      throw FileError(p, "inputs",
                      fmt::format("NaN at cell {}, month {}, feature '{}'", cell_begin + i / (T * F),
                                  (i / F) % T, header_.features[fi]));
    inputs_[i] = static_cast<float>((inputs_[i] - stats_.feature_mean[fi]) / stats_.feature_std[fi]);
  }
  for (std::size_t i = 0; i < target_.size(); ++i) {
    if (std::isnan(target_[i]))
      throw FileError(p, "target", fmt::format("NaN at cell {}, month {}", cell_begin + i / T, i % T));
    target_[i] = static_cast<float>((target_[i] - stats_.target_mean) / stats_.target_std);
  }
}

std::size_t SampleStore::flat_width() const {
  return window() * dynamic_.size() + static_.size();
}

std::size_t SampleStore::target_index_of(std::uint64_t i) const {
  return static_cast<std::size_t>(header_.target_start) + static_cast<std::size_t>(i % windows_per_cell());
}

cftime::YearMonth SampleStore::month_at(std::size_t t) const {
  return cftime::YearMonth::from_index(header_.first_month.index() + static_cast<int>(t));
}

std::span<const float> SampleStore::inputs_of(std::size_t c) const {
  return std::span<const float>(inputs_).subspan(c * months() * features(), months() * features());
}
std::span<const float> SampleStore::target_of(std::size_t c) const {
  return std::span<const float>(target_).subspan(c * months(), months());
}

void SampleStore::gather_sequence(std::span<const std::uint64_t> ids, std::span<float> x,
                                  std::span<float> y) const {
  const std::size_t W = window(), F = features(), T = months(), lead = static_cast<std::size_t>(header_.lead);
  if (x.size() != ids.size() * W * F || y.size() != ids.size())
    throw Error(fmt::format("gather_sequence: buffers for {} windows must hold {} and {} floats", ids.size(),
                            ids.size() * W * F, ids.size()));
  for (std::size_t b = 0; b < ids.size(); ++b) {
    if (ids[b] >= windows())
      throw Error(fmt::format("window {} out of range ({} windows)", ids[b], windows()));
    const std::size_t c = cell_of(ids[b]), t = target_index_of(ids[b]);
    const float* first = &inputs_[(c * T + (t - lead - (W - 1))) * F];
    std::copy(first, first + W * F, &x[b * W * F]);  // W consecutive months are contiguous
    y[b] = target_[c * T + t];
  }
}

void SampleStore::gather_flat(std::span<const std::uint64_t> ids, std::span<float> x,
                              std::span<float> y) const {
  const std::size_t W = window(), F = features(), T = months(), lead = static_cast<std::size_t>(header_.lead);
  const std::size_t width = flat_width();
  if (x.size() != ids.size() * width || y.size() != ids.size())
    throw Error(fmt::format("gather_flat: buffers for {} windows must hold {} and {} floats", ids.size(),
                            ids.size() * width, ids.size()));
  for (std::size_t b = 0; b < ids.size(); ++b) {
    if (ids[b] >= windows())
      throw Error(fmt::format("window {} out of range ({} windows)", ids[b], windows()));
    const std::size_t c = cell_of(ids[b]), t = target_index_of(ids[b]);
    const std::size_t t0 = t - lead - (W - 1);
    float* out = &x[b * width];
    for (std::size_t w = 0; w < W; ++w) {
      const float* month = &inputs_[(c * T + t0 + w) * F];
      for (std::size_t d : dynamic_)
        *out++ = month[d];
    }
    // Static features from the first step of the window, as the seed's adapters do.
    const float* month0 = &inputs_[(c * T + t0) * F];
    for (std::size_t s : static_)
      *out++ = month0[s];
    y[b] = target_[c * T + t];
  }
}

std::vector<std::uint64_t> window_order(std::uint64_t n, std::uint64_t seed, bool shuffle) {
  std::vector<std::uint64_t> order(n);
  for (std::uint64_t i = 0; i < n; ++i)
    order[i] = i;
  if (!shuffle) return order;
  for (std::uint64_t i = n; i > 1; --i) {
    // Bounded draw j in [0, i) by multiply-shift (Lemire) from counter-based bits; bias < i / 2^64.
    const std::uint64_t bits = random_bits(seed, 0x5bf1e, i);
    __extension__ using u128 = unsigned __int128;
    const auto j = static_cast<std::uint64_t>((static_cast<u128>(bits) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

WindowBatches::WindowBatches(const SampleStore& store, std::size_t batch_size, WindowLayout layout,
                             bool shuffle, std::uint64_t seed)
    : store_(store),
      batch_(std::max<std::size_t>(1, batch_size)),
      layout_(layout),
      order_(window_order(store.windows(), seed, shuffle)) {}

bool WindowBatches::next(std::vector<float>& x, std::vector<float>& y, std::vector<std::uint64_t>& ids) {
  if (pos_ >= order_.size()) return false;
  const std::size_t n = std::min(batch_, order_.size() - pos_);
  ids.assign(order_.begin() + static_cast<std::ptrdiff_t>(pos_),
             order_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
  pos_ += n;
  y.resize(n);
  if (layout_ == WindowLayout::Sequence) {
    x.resize(n * store_.window() * store_.features());
    store_.gather_sequence(ids, x, y);
  } else {
    x.resize(n * store_.flat_width());
    store_.gather_flat(ids, x, y);
  }
  return true;
}

}  // namespace fluxkit
