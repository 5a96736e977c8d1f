#include "fluxkit/transport/linear.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/footprint.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/operator_cache.hpp"
#include "fluxkit/transport/packed.hpp"
#include "fluxkit/transport/rc.hpp"

namespace fluxkit::transport {

namespace fs = std::filesystem;

struct LinearTransport::State {
  mutable std::mutex mutex;
  std::vector<int> status;
};

LinearTransport::LinearTransport(const LinearOptions& o, const Context& ctx)
    : ctx_(ctx), options_(o), state_(std::make_unique<State>()) {
  if (o.rc.empty()) throw Error("transport operator: the rc file is required");
  if (o.db.empty()) throw Error("transport operator: the obsdb is required");
  const RcFile rc = RcFile::parse_file(o.rc);
  const std::vector<std::string> all = rc.get_list("emissions.categories");
  if (all.empty()) throw FileError(o.rc.string(), "emissions.categories", "no category");
  categories_ = optimized_categories(rc, all);
  if (categories_.empty())
    throw FileError(o.rc.string(), "emissions.categories",
                    "no optimized category (emissions.<cat>.optimize): the operator would have no columns");
  axis_ = TimeAxis::regular(rc_time(rc, "time.start"), rc_time(rc, "time.end"), rc_interval(rc));
  if (axis_.size() == 0)
    throw FileError(o.rc.string(), "time.end", "time.end is not after time.start: no time step");
  grid_ = rc_grid(rc);

  const ObsDb db = ObsDb::read(o.db);
  observations_ = db.observations;
  rows_ = db.observations.size();
  const Work work = collect_work(db, o.db, false, o.packed.empty());
  files_ = work.files;
  transported_.assign(rows_, 0);
  for (const FileTask& f : files_)
    for (const ObsTask& t : f.obs)
      transported_[t.row] = 1;

  OperatorOptions options;
  options.truncate = o.truncate;
  options.check_grid = o.check_grid;
  if (o.check_grid) {
    options.lats = grid_.lats;
    options.lons = grid_.lons;
  }
  fs::path cache = o.cache_dir;
  if (cache.empty() && o.use_cache)
    if (const auto run = rc.find("path.run"); run && !run->empty())
      cache = fs::path(*run) / "fluxkit-operators";
  auto files_source = make_file_footprint_source(
      [format = o.footprint_format](const fs::path& p) { return open_footprint_file(p, format); });
  if (!o.packed.empty()) {
    auto packed = std::make_unique<PackedOperator>(o.packed);
    packed->check_sources();
    packed->check_grid(grid_.shape, options.lats, options.lons);
    source_ = "packed operator " + o.packed.string();
    op_ = std::move(packed);
  } else if (o.use_cache && !cache.empty()) {
    CachedOperator c =
        cached_operator(cache, files_, *files_source, grid_.shape, options, o.footprint_format, ctx);
    source_ = fmt::format("operator cache {} ({})", c.path.string(), c.built ? "built" : "reused");
    op_ = std::move(c.op);
  } else {
    source_ = "footprint files";
    op_ = std::make_unique<FootprintOperator>(std::move(files_source));
  }
  spdlog::info(
      "transport operator: {} observations ({} transported) x {} categories x {} steps x {} x {} cells; {}",
      rows_, work.observations, categories_.size(), axis_.size(), grid_.shape.nlat, grid_.shape.nlon,
      source_);
}

LinearTransport::~LinearTransport() = default;

void LinearTransport::forward(std::span<const double> x, std::span<double> y) const {
  if (x.size() != columns())
    throw Error(fmt::format(
        "transport forward: the flux vector has {} values, expected {} (= {} categories x {} "
        "steps x {} lats x {} lons)",
        x.size(), columns(), categories_.size(), axis_.size(), grid_.shape.nlat, grid_.shape.nlon));
  if (y.size() != rows_)
    throw Error(fmt::format("transport forward: the output has {} values, expected {} (one per observation)",
                            y.size(), rows_));
  const std::size_t field = axis_.size() * grid_.shape.nlat * grid_.shape.nlon;
  std::vector<const double*> fields;
  for (std::size_t c = 0; c < categories_.size(); ++c)
    fields.push_back(x.data() + c * field);
  OperatorOptions options;
  options.truncate = options_.truncate;
  options.check_grid = options_.check_grid;
  if (options_.check_grid) {
    options.lats = grid_.lats;
    options.lons = grid_.lons;
  }
  const ForwardResult r = op_->forward(fields, axis_, grid_.shape, files_, options, ctx_);
  std::fill(y.begin(), y.end(), 0.0);
  std::vector<int> status(rows_, -1);
  for (const ObsResult& o : r.obs) {
    status[o.row] = static_cast<int>(o.status);
    if (o.status != ObsStatus::Computed) continue;
    double sum = 0.0;
    for (const double v : o.values)
      sum += v;
    y[o.row] = sum;
  }
  const std::lock_guard lock(state_->mutex);
  state_->status = std::move(status);
}

std::vector<double> LinearTransport::adjoint(std::span<const double> y) const {
  if (y.size() != rows_)
    throw Error(
        fmt::format("transport adjoint: the observation vector has {} values, expected {} (one per "
                    "observation)",
                    y.size(), rows_));
  std::vector<FileTask> files = files_;
  for (FileTask& f : files)
    for (ObsTask& t : f.obs)
      t.dy = y[t.row];
  OperatorOptions options;
  options.truncate = options_.truncate;
  options.check_grid = options_.check_grid;
  if (options_.check_grid) {
    options.lats = grid_.lats;
    options.lons = grid_.lons;
  }
  AdjointResult r = op_->adjoint(axis_, grid_.shape, files, options, ctx_);
  if (categories_.size() == 1) return std::move(r.field);
  std::vector<double> out;
  out.reserve(columns());
  for (std::size_t c = 0; c < categories_.size(); ++c)
    out.insert(out.end(), r.field.begin(), r.field.end());
  return out;
}

std::vector<int> LinearTransport::last_status() const {
  const std::lock_guard lock(state_->mutex);
  return state_->status;
}

}  // namespace fluxkit::transport
