// Normalisation statistics that come from outside a training store: the Python pipeline's
// `training_stats.pkl`, or a model artifact's model.toml. A model trained by the Python pipeline expects its
// inputs normalised with the pipeline's statistics, which differ from the ones `fluxkit prepare` computes
// (the pipeline skips NaN values instead of dropping the cell, counts the ORCA halo and north-fold
// duplicates, and sums float64 copies of the data): `fluxkit import-weights` stores them in the artifact and
// `[prepare] statistics` builds stores with them (docs/models.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "fluxkit/dataset/sample_store.hpp"

namespace fluxkit {

struct StatisticsFile {
  std::vector<std::string> features;  // in the file's order
  Normalisation stats;
};

// Reads `training_stats.pkl` as the Python pipeline pickled it (pickle.dump or pandas.to_pickle, protocol 2
// to 5): a dict {"feature_mean": pandas.Series, "feature_std": pandas.Series, "target_mean": float,
// "target_std": float}, the Series indexed by feature name, the numbers Python floats or NumPy float64
// scalars. Nothing in the file is executed: only the pandas/NumPy globals such a dict needs are understood.
// Throws FileError naming the file (and the key) for anything else: another pickle, a missing key, Series
// whose names differ, a non-finite value or a standard deviation <= 0.
StatisticsFile read_training_stats_pickle(const std::filesystem::path& path);

// The statistics of `path` for inputs `features` (in order): a model artifact directory (or its model.toml)
// or a training_stats.pkl. Throws FileError naming the file when its features differ from `features`
// (count, names or order).
Normalisation read_normalisation(const std::filesystem::path& path, const std::vector<std::string>& features);

}  // namespace fluxkit
