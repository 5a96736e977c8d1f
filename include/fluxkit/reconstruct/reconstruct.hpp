// `fluxkit reconstruct`: runs model artifacts over the test stores and writes one reconstruction cache per
// (model, experiment, region, year) (docs/reconstruction.md). Idempotent: an existing cache made from the
// same artifact and the same test store is skipped (unless force); writes are atomic, so a killed run leaves
// only complete caches and a rerun finishes the rest. Tasks can be split across processes (rank/size, e.g.
// MPI ranks).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/dataset/data_source.hpp"
#include "fluxkit/dataset/prepare.hpp"

namespace fluxkit {

struct ReconstructParams {
  static constexpr std::string_view kSection = "reconstruct";
  static constexpr std::string_view kDoc =
      "Reconstruction caches (`fluxkit reconstruct`): every model over every test store of the year range.";
  std::vector<std::string> models = {"mlp", "lstm", "attention_lstm", "xgboost"};
  std::vector<std::string> experiments = {"experiment_1"};
  std::vector<std::string> regions = {"global", "north_atlantic", "southern_ocean"};
  std::vector<std::int64_t> years = {2009, 2018};
  std::string output_dir = "reconstruction";
  std::string format = "netcdf";
  std::int64_t cells_per_block = 50000;

  template <class V>
  void visit(V&& v) {
    v("models", models,
      "Model artifacts: names under [train] output_dir, or paths to artifact directories; an ensemble "
      "directory ([train] ensemble > 1) runs all its members and writes their mean, standard deviation and "
      "members.");
    v("experiments", experiments, "Experiments whose test stores are reconstructed.");
    v("regions", regions, "Regions whose test stores are reconstructed (as in [prepare] test_regions).");
    v("years", years, "First and last year.");
    v("output_dir", output_dir,
      "Root of the caches: "
      "<output_dir>/<experiment>/<Region>/<model>_<Region>_reconstruction_<year>_<experiment>.nc.");
    v("format", format, "`netcdf`, or `csv` to also write the seed's long table next to each cache.");
    v("cells_per_block", cells_per_block,
      "Cells predicted at once (bounds memory for global high-resolution years).");
  }
  void validate() const;
};

struct ReconstructTask {
  std::string model;  // artifact name (its directory name)
  std::filesystem::path artifact;
  std::string experiment, region;
  int year = 0;
};

struct ReconstructOutcome {
  ReconstructTask task;
  std::filesystem::path cache;
  bool skipped = false;  // an up-to-date cache existed
  std::size_t cells = 0;
  double seconds = 0;
};

// Every task in a fixed order (model, experiment, region, year).
std::vector<ReconstructTask> reconstruct_tasks(const ReconstructParams& params,
                                               const std::filesystem::path& models_dir);

// Runs the tasks with index % size == rank. Every input is checked first (artifacts, for an ensemble every
// member listed in its ensemble.toml, test stores, source files): an Error naming all missing ones, and
// nothing written.
std::vector<ReconstructOutcome> reconstruct(const ReconstructParams& params, const PrepareParams& prepare,
                                            const DataParams& data, const std::filesystem::path& models_dir,
                                            bool force, int rank, int size, const Context& ctx,
                                            const Provenance& provenance);

// Identity of an artifact (model.toml and weights; for an ensemble ensemble.toml and every member's identity)
// and of a sample store (its provenance and size), cheap to compute: what decides whether a cache is up to
// date.
std::string artifact_fingerprint(const std::filesystem::path& artifact_dir);
std::string store_identity(const std::filesystem::path& store);

}  // namespace fluxkit
