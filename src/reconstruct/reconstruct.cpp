#include "fluxkit/reconstruct/reconstruct.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/dataset/cells.hpp"
#include "fluxkit/io/nemo.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/reconstruct/cache.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

void ReconstructParams::validate() const {
  if (models.empty()) config::invalid(kSection, "models", "must name at least one model artifact");
  if (experiments.empty()) config::invalid(kSection, "experiments", "must name at least one experiment");
  if (regions.empty()) config::invalid(kSection, "regions", "must name at least one region");
  if (years.size() != 2 || years[0] > years[1])
    config::invalid(
        kSection, "years",
        fmt::format("expected [first, last] with first <= last, got [{}]", fmt::join(years, ", ")));
  if (format != "netcdf" && format != "csv")
    config::invalid(kSection, "format", fmt::format("expected netcdf or csv, got '{}'", format));
  if (cells_per_block < 1) config::invalid(kSection, "cells_per_block", "must be >= 1");
}

std::vector<ReconstructTask> reconstruct_tasks(const ReconstructParams& p, const fs::path& models_dir) {
  std::vector<ReconstructTask> tasks;
  for (const auto& m : p.models) {
    const fs::path artifact = m.find('/') != std::string::npos ? fs::path(m) : models_dir / m;
    const std::string name = artifact.filename().empty() ? artifact.parent_path().filename().string()
                                                         : artifact.filename().string();
    for (const auto& e : p.experiments)
      for (const auto& r : p.regions)
        for (auto y = p.years[0]; y <= p.years[1]; ++y)
          tasks.push_back({name, artifact, e, r, static_cast<int>(y)});
  }
  return tasks;
}

namespace {
std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

std::string artifact_fingerprint(const fs::path& dir) {
  if (is_ensemble(dir)) {
    // The manifest and every member's fingerprint.
    std::uint64_t h = fnv1a64(file_bytes(dir / kEnsembleManifest));
    const EnsembleManifest m = read_ensemble_manifest(dir);
    for (const auto& member : m.member_dirs)
      h = fnv1a64(artifact_fingerprint(dir / member), h);
    return "fnv1a64:" + hex64(h);
  }
  std::uint64_t h = fnv1a64(file_bytes(dir / "model.toml"));
  for (const char* weights : {"weights.pt", "model.json"})
    if (fs::exists(dir / weights)) h = fnv1a64(file_bytes(dir / weights), h);
  return "fnv1a64:" + hex64(h);
}

std::string store_identity(const fs::path& store) {
  const nc::File f(store);
  std::string id;
  for (const char* att :
       {"date_created", "fluxkit_config_hash", "fluxkit_git_commit", "source", "region", "experiment"})
    id += f.text_attribute("", att).value_or("") + "|";
  id += std::to_string(f.dim_length("cell"));
  return "fnv1a64:" + hex64(fnv1a64(id));
}

std::vector<ReconstructOutcome> reconstruct(const ReconstructParams& params, const PrepareParams& prepare,
                                            const DataParams& data, const fs::path& models_dir, bool force,
                                            int rank, int size, const Context& ctx,
                                            const Provenance& provenance) {
  const auto tasks = reconstruct_tasks(params, models_dir);
  const auto custom = prepare.user_regions();
  // Check up front that every input exists, naming all that are missing (for an ensemble every member's
  // artifact).
  std::vector<std::string> missing;
  std::map<std::string, std::vector<fs::path>> members;  // by model name: its artifact directories
  for (const auto& t : tasks) {
    if (!members.contains(t.model)) members[t.model] = model_members(t.artifact, missing);
    const auto store = prepare.test_path(t.experiment, t.region, t.year);
    if (!fs::exists(store)) missing.push_back(fmt::format("test store {}", store.string()));
    // The simulated field over the region's ocean cells, not only the samples, comes from the source file.
    const auto source = data.file(t.experiment, t.year);
    if (!fs::exists(source)) missing.push_back(fmt::format("source file {}", source.string()));
  }
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  if (!missing.empty())
    throw Error(
        fmt::format("reconstruct: {} input(s) missing: {}", missing.size(), fmt::join(missing, "; ")));

  std::map<std::string, std::vector<std::shared_ptr<LoadedModel>>> models;
  std::map<std::string, std::string> artifact_fps;
  std::map<std::string, nemo::Grid> grids;                                                // by experiment
  std::map<std::string, int> grids_year;                                                  // whose file
  std::map<std::string, CellTable> tables;                                                // by experiment
  std::map<std::pair<std::string, std::string>, std::vector<std::int64_t>> region_cells;  // (exp, region)
  std::vector<ReconstructOutcome> out;
  for (std::size_t task = 0; task < tasks.size(); ++task) {
    if (static_cast<int>(task % static_cast<std::size_t>(size)) != rank) continue;
    const auto& t = tasks[task];
    const auto t0 = std::chrono::steady_clock::now();
    const Region region = find_region(t.region, custom);
    const fs::path store_path = prepare.test_path(t.experiment, t.region, t.year);
    const fs::path path = cache_path(params.output_dir, t.model, t.experiment, region.dir_name, t.year);
    if (!artifact_fps.contains(t.model)) artifact_fps[t.model] = artifact_fingerprint(t.artifact);
    const std::vector<fs::path>& member_dirs = members.at(t.model);
    const bool ensemble = is_ensemble(t.artifact);
    const std::string afp = artifact_fps[t.model], sid = store_identity(store_path);
    ReconstructOutcome result{t, path};
    if (!force && fs::exists(path)) {
      try {
        const auto h = read_cache_header(path);
        if (h.version == kCacheVersion && h.artifact_fingerprint == afp && h.store_fingerprint == sid) {
          result.skipped = true;
          out.push_back(result);
          spdlog::info("{}: up to date, skipped", path.string());
          continue;
        }
      } catch (const Error& e) {
        spdlog::warn("{}: unreadable cache, rebuilding ({})", path.string(), e.what());
      }
    }
    if (!models.contains(t.model)) {
      auto& loaded = models[t.model];
      for (const auto& dir : member_dirs) {
        loaded.push_back(std::make_shared<LoadedModel>(load_artifact(dir)));
        const ArtifactInfo& a = loaded.front()->info;
        const ArtifactInfo& b = loaded.back()->info;
        if (a.type != b.type || !(a.shape == b.shape) || a.train_fingerprint != b.train_fingerprint ||
            a.validation_fingerprint != b.validation_fingerprint)
          throw Error(fmt::format(
              "ensemble {}: members {} and {} differ in type, input shape or training data (store "
              "fingerprints); the members of an ensemble differ only in their seed: train it again",
              t.artifact.string(), member_dirs.front().string(), dir.string()));
      }
    }
    const std::vector<std::shared_ptr<LoadedModel>>& lms = models[t.model];
    const LoadedModel& lm = *lms.front();

    const SampleStore meta(store_path, 0, 0);
    try {
      check_store_matches(lm.info, meta);
    } catch (const Error& e) {
      throw Error(fmt::format("model {} ({}): {}", t.model, t.artifact.string(), e.what()));
    }
    if (meta.windows_per_cell() != 12)
      throw FileError(store_path.string(), "",
                      fmt::format("{} targets per cell, a test year has 12", meta.windows_per_cell()));
    if (!grids.contains(t.experiment)) {
      grids.emplace(t.experiment, nemo::File(data.file(t.experiment, t.year)).grid());
      grids_year[t.experiment] = t.year;
    }
    const nemo::Grid& grid = grids.at(t.experiment);
    if (grid.ny != meta.header().grid_ny || grid.nx != meta.header().grid_nx)
      throw FileError(
          store_path.string(), "",
          fmt::format("store grid {}x{} differs from {} ({}x{})", meta.header().grid_ny,
                      meta.header().grid_nx, data.file(t.experiment, t.year).string(), grid.ny, grid.nx));

    // The region's ocean cells (every distinct ocean location in the region, sampled or not) and their index
    // box; the store's cells are a subset.
    if (!tables.contains(t.experiment)) tables.emplace(t.experiment, build_cell_table(grid));
    const CellTable& table = tables.at(t.experiment);
    auto& ocean = region_cells[{t.experiment, t.region}];
    if (ocean.empty()) {
      std::vector<std::size_t> all(table.cells.size());
      for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = i;
      ocean = cells_in_region(table, all, grid, region);
    }
    const std::size_t total = meta.total_cells();
    std::vector<std::int32_t> ys, xs;
    for (const std::int64_t k : ocean) {
      ys.push_back(static_cast<std::int32_t>(static_cast<std::size_t>(k) / grid.nx));
      xs.push_back(static_cast<std::int32_t>(static_cast<std::size_t>(k) % grid.nx));
    }
    {
      const nc::File f(store_path);
      for (double v : f.read_double("y"))
        ys.push_back(static_cast<std::int32_t>(v));
      for (double v : f.read_double("x"))
        xs.push_back(static_cast<std::int32_t>(v));
    }
    const auto [ymin, ymax] = std::minmax_element(ys.begin(), ys.end());
    const auto [xmin, xmax] = std::minmax_element(xs.begin(), xs.end());
    ReconstructionCache c;
    c.model = t.model;
    c.experiment = t.experiment;
    c.region = t.region;
    c.year = t.year;
    c.target_name = meta.header().target;
    c.target_units = meta.header().target_units;
    c.calendar = meta.header().calendar;
    c.artifact_fingerprint = afp;
    c.store_fingerprint = sid;
    c.train_experiment = lm.info.train_experiment;
    c.train_first_year = lm.info.train_first_year;
    c.train_last_year = lm.info.train_last_year;
    c.validation_experiment = lm.info.validation_experiment;
    c.validation_first_year = lm.info.validation_first_year;
    c.validation_last_year = lm.info.validation_last_year;
    c.ny = static_cast<std::size_t>(*ymax - *ymin + 1);
    c.nx = static_cast<std::size_t>(*xmax - *xmin + 1);
    const std::size_t n = c.cells();
    for (auto y = *ymin; y <= *ymax; ++y)
      c.y_index.push_back(y);
    for (auto x = *xmin; x <= *xmax; ++x)
      c.x_index.push_back(x);
    c.lat.resize(n);
    c.lon.resize(n);
    c.area.assign(n, std::nan(""));
    c.sample_mask.assign(n, 0);
    c.region_mask.assign(n, 0);
    for (std::size_t j = 0; j < c.ny; ++j)
      for (std::size_t i = 0; i < c.nx; ++i) {
        const std::size_t k =
            static_cast<std::size_t>(c.y_index[j]) * grid.nx + static_cast<std::size_t>(c.x_index[i]);
        c.lat[j * c.nx + i] = grid.lat[k];
        c.lon[j * c.nx + i] = grid.lon[k];
        if (grid.has_metrics()) c.area[j * c.nx + i] = grid.e1t[k] * grid.e2t[k];
      }
    auto box_index = [&](std::size_t k) {
      return (k / grid.nx - static_cast<std::size_t>(*ymin)) * c.nx + (k % grid.nx) -
             static_cast<std::size_t>(*xmin);
    };
    for (const std::int64_t k : ocean)
      c.region_mask[box_index(static_cast<std::size_t>(k))] = 1;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    c.simulated.assign(12 * n, nan);
    c.reconstructed.assign(12 * n, nan);
    if (ensemble) {
      c.members = static_cast<int>(lms.size());
      c.member_reconstructed.assign(lms.size() * 12 * n, nan);
    }

    // The simulated target of the year at the region's ocean cells, from the source file (the samples get the
    // store's values below, the same numbers as the model saw).
    {
      const nemo::File src(data.file(t.experiment, t.year));
      if (!src.grid().same_as(grid))
        throw FileError(src.path(), "nav_lat",
                        fmt::format("grid differs from {} (shape, coordinates or tmask)",
                                    data.file(t.experiment, grids_year.at(t.experiment)).string()));
      const std::string var = data.file_variable(data.target);
      src.check_field(var);
      const int first = src.months().first.index();
      if (t.year * 12 < first || t.year * 12 + 11 >= first + src.months().count)
        throw FileError(
            src.path(), src.time_dim(),
            fmt::format("covers {} .. {}, but {}-01 .. {}-12 are needed", cftime::format(src.months().first),
                        cftime::format(src.months().at(src.months().count - 1)), t.year, t.year));
      const std::size_t start[3] = {static_cast<std::size_t>(t.year * 12 - first),
                                    static_cast<std::size_t>(*ymin), static_cast<std::size_t>(*xmin)};
      const std::size_t count[3] = {12, c.ny, c.nx};
      const std::vector<float> values = src.netcdf().read_float(var, start, count);
      for (std::size_t month = 0; month < 12; ++month)
        for (std::size_t k = 0; k < n; ++k)
          if (c.region_mask[k]) c.simulated[month * n + k] = values[month * n + k];
    }

    const Model& model = *lm.model;
    for (std::size_t c0 = 0; c0 < total; c0 += static_cast<std::size_t>(params.cells_per_block)) {
      const std::size_t c1 = std::min(total, c0 + static_cast<std::size_t>(params.cells_per_block));
      const SampleStore store(store_path, c0, c1);
      WindowBatches batches(store, store.windows(), model.layout(), false, 0);
      std::vector<float> x, y;
      std::vector<std::uint64_t> ids;
      batches.next(x, y, ids);
      std::vector<float> pred(ids.size());
      // pred: the (single) model's predictions; an ensemble's members go to member_reconstructed, the mean
      // and standard deviation are taken once every block is done.
      std::vector<std::vector<float>> member_pred(ensemble ? lms.size() : 0);
      for (std::size_t m = 0; m < member_pred.size(); ++m) {
        member_pred[m].resize(ids.size());
        lms[m]->model->predict(x, ids.size(), member_pred[m], ctx);
      }
      if (!ensemble) model.predict(x, ids.size(), pred, ctx);
      for (std::size_t b = 0; b < ids.size(); ++b) {
        const std::size_t cell = store.cell_of(ids[b]);
        const std::size_t month =
            store.target_index_of(ids[b]) - static_cast<std::size_t>(store.header().target_start);
        const auto& cc = store.cell(cell);
        const std::size_t k =
            box_index(static_cast<std::size_t>(cc.y) * grid.nx + static_cast<std::size_t>(cc.x));
        if (!c.region_mask[k])
          throw FileError(store_path.string(), "",
                          fmt::format("cell (y={}, x={}) is not an ocean cell of region '{}' in {}", cc.y,
                                      cc.x, t.region, data.file(t.experiment, t.year).string()));
        c.sample_mask[k] = 1;
        c.simulated[month * n + k] = static_cast<float>(store.denormalise_target(y[b]));
        if (!ensemble) c.reconstructed[month * n + k] = static_cast<float>(store.denormalise_target(pred[b]));
        for (std::size_t m = 0; m < member_pred.size(); ++m)
          c.member_reconstructed[(m * 12 + month) * n + k] =
              static_cast<float>(store.denormalise_target(member_pred[m][b]));
      }
    }
    if (ensemble)
      ensemble_mean_std(c.member_reconstructed, lms.size(), 12 * n, c.reconstructed, c.reconstructed_std);
    write_cache(path, c, provenance);
    if (params.format == "csv") write_cache_csv(fs::path(path).replace_extension(".csv"), c);
    result.cells = total;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("{}: {} cells x 12 months in {:.2f} s ({:.3g} cell-months/s)", path.string(), total,
                 result.seconds, static_cast<double>(total * 12) / std::max(1e-9, result.seconds));
    out.push_back(result);
  }
  return out;
}

}  // namespace fluxkit
