// Small synthetic training and validation stores shared by the model tests (10-degree grid, 2000-2003).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit::testing {

struct SmallStores {
  std::filesystem::path root;
  std::filesystem::path train, validation, tiny;  // tiny: a handful of cells (one batch)

  SmallStores() {
    root = std::filesystem::temp_directory_path() / ("fluxkit_models_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    const Provenance prov{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};
    synth::SynthOceanParams s;
    s.output_dir = (root / "data").string();
    s.experiments = {"experiment_5"};
    s.start_year = 1999;
    s.end_year = 2003;
    s.resolution = 10.0;
    Context ctx;
    synth::generate_ocean(s, ctx, prov);
    DataParams d;
    d.root = s.output_dir;
    PrepareParams p;
    p.output_dir = (root / "samples").string();
    p.splits = {"train", "validation"};
    p.train_years = {2000, 2001};
    p.validation_years = {2002, 2003};
    p.train_fraction = p.validation_fraction = 0.5;
    prepare_samples(p, d, ctx, prov);
    train = p.train_path();
    validation = p.validation_path();
    p.output_dir = (root / "tiny").string();
    p.splits = {"train"};
    p.train_fraction = 0.01;
    prepare_samples(p, d, ctx, prov);
    tiny = p.train_path();
  }
  ~SmallStores() { std::filesystem::remove_all(root); }
};

// One instance per test binary.
inline const SmallStores& small_stores() {
  static const SmallStores stores;
  return stores;
}

}  // namespace fluxkit::testing
