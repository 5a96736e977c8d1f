// The Python pipeline's training_stats.pkl read without Python (tests/models/data/make_stats_pickles.py), and
// stores prepared with outside statistics: they are the file's, and check_store_matches tells them apart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/temp_dir.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/statistics_file.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

fs::path data_file(const std::string& name) {
  return fs::path(FLUXKIT_SOURCE_DIR "/tests/models/data") / name;
}

const std::vector<std::string> kFeatures = {
    "SST",      "SAL",      "ice_frac",   "mixed_layer_depth", "heat_flux_down", "water_flux_up",
    "stress_X", "stress_Y", "currents_X", "currents_Y",        "sin_lat",        "cos_lat",
    "sin_lon",  "cos_lon"};

StatisticsFile expected() {
  std::ifstream in(data_file("stats.expected"));
  StatisticsFile s;
  std::string name, mean, sd;
  while (in >> name >> mean >> sd) {
    if (name == "target") {
      s.stats.target_mean = std::stod(mean);
      s.stats.target_std = std::stod(sd);
    } else {
      s.features.push_back(name);
      s.stats.feature_mean.push_back(std::stod(mean));
      s.stats.feature_std.push_back(std::stod(sd));
    }
  }
  return s;
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The FileError names the file and contains every fragment.
template <class F>
void expect_error(F&& f, const fs::path& file, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error for " << file;
  } catch (const FileError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.file(), file.string()) << what;
    for (const auto& frag : fragments)
      EXPECT_NE(what.find(frag), std::string::npos) << "'" << frag << "' in: " << what;
  }
}

class StatsPickle : public ::testing::TestWithParam<const char*> {};

TEST_P(StatsPickle, ReadsTheValuesPandasComputed) {
  const StatisticsFile s = read_training_stats_pickle(data_file(GetParam()));
  const StatisticsFile e = expected();
  ASSERT_EQ(e.features, kFeatures);
  EXPECT_EQ(s.features, e.features);
  EXPECT_EQ(s.stats.feature_mean, e.stats.feature_mean);  // exact: the float64 bytes of the pickle
  EXPECT_EQ(s.stats.feature_std, e.stats.feature_std);
  EXPECT_EQ(s.stats.target_mean, e.stats.target_mean);
  EXPECT_EQ(s.stats.target_std, e.stats.target_std);
}

INSTANTIATE_TEST_SUITE_P(Protocols, StatsPickle,
                         ::testing::Values("stats_protocol2.pkl", "stats_protocol4.pkl",
                                           "stats_protocol5.pkl", "stats_to_pickle.pkl"));

TEST(StatsPickleFile, PythonFloatsForTheTarget) {
  const StatisticsFile s = read_training_stats_pickle(data_file("stats_float_target.pkl"));
  EXPECT_EQ(s.stats.target_mean, expected().stats.target_mean);
  EXPECT_EQ(s.stats.target_std, 1.25);
}

TEST(StatsPickleFile, FeaturesMustBeTheInputs) {
  EXPECT_EQ(read_normalisation(data_file("stats_protocol4.pkl"), kFeatures).feature_std,
            expected().stats.feature_std);
  const fs::path fewer = data_file("stats_13_features.pkl");
  expect_error([&] { read_normalisation(fewer, kFeatures); }, fewer,
               {"statistics of 13 features [SAL, ice_frac", "but the inputs are 14 features [SST, SAL"});
  std::vector<std::string> swapped = kFeatures;
  std::swap(swapped[0], swapped[1]);
  const fs::path p4 = data_file("stats_protocol4.pkl");
  expect_error([&] { read_normalisation(p4, swapped); }, p4, {"names or order differ"});
}

TEST(StatsPickleFile, OtherFilesAreRefusedNamingTheCause) {
  fluxkit::testing::TempDir dir("fluxkit_test_stats");
  auto refused = [&](const std::string& name, const std::string& bytes,
                     const std::vector<std::string>& frags) {
    write_bytes(dir / name, bytes);
    expect_error([&] { read_training_stats_pickle(dir / name); }, dir / name, frags);
  };
  refused("text.pkl", "feature_mean = 1\n", {"not a pickle"});
  refused("empty.pkl", "", {"empty file"});
  refused("zip.pkl", "PK\x03\x04 rest", {"zip archive"});
  refused("list.pkl", "\x80\x02]q\x00."s, {"holds a list, not the statistics dict"});
  refused("nokeys.pkl", "\x80\x02}q\x00(X\x01\x00\x00\x00"s + "aK\x01u."s,
          {"variable 'feature_mean'", "missing", "keys: a"});
  refused("system.pkl",
          "\x80\x02"
          "cos\nsystem\n."s,
          {"unsupported pickle global 'os.system'"});
  refused("float_mean.pkl",
          "\x80\x02}(X\x0c\x00\x00\x00"s + "feature_mean"s + "G?\xf0\x00\x00\x00\x00\x00\x00u."s,
          {"variable 'feature_mean'", "a float instead of a pandas Series"});
  expect_error([&] { read_training_stats_pickle(dir / "absent.pkl"); }, dir / "absent.pkl",
               {"file not found"});
  // A PyTorch state dict passed for the statistics.
  const fs::path pt = data_file("mlp.pt");
  expect_error([&] { read_training_stats_pickle(pt); }, pt, {"zip archive"});
}

// Every prefix and many random corruptions: a FileError or a result, never a crash (also under ASan).
TEST(StatsPickleFile, FuzzedPickles) {
  fluxkit::testing::TempDir dir("fluxkit_test_stats_fuzz");
  const std::string good = read_bytes(data_file("stats_protocol4.pkl"));
  std::mt19937 rng(5);
  std::vector<std::string> variants;
  for (std::size_t n = 0; n < good.size(); n += 7)
    variants.push_back(good.substr(0, n));
  for (int i = 0; i < 400; ++i) {
    std::string p = good;
    for (int k = 0; k < 1 + i % 3; ++k)
      p[rng() % p.size()] = static_cast<char>(rng() & 0xFFU);
    variants.push_back(std::move(p));
  }
  int errors = 0;
  for (const auto& p : variants) {
    write_bytes(dir / "fuzz.pkl", p);
    try {
      read_training_stats_pickle(dir / "fuzz.pkl");
    } catch (const FileError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 200);
}

// `[prepare] statistics`: the stores carry the file's statistics, with no training store; check_store_matches
// accepts an artifact with those statistics and refuses one with others.
TEST(PrepareWithStatistics, StoresCarryTheFilesStatistics) {
  fluxkit::testing::TempDir dir("fluxkit_test_prepare_stats");
  const Provenance prov{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};
  synth::SynthOceanParams s;
  s.output_dir = (dir / "data").string();
  s.experiments = {"experiment_5"};
  s.start_year = 2000;
  s.end_year = 2001;
  s.resolution = 20.0;
  Context ctx;
  synth::generate_ocean(s, ctx, prov);
  DataParams d;
  d.root = s.output_dir;
  PrepareParams p;
  p.output_dir = (dir / "samples").string();
  p.splits = {"validation"};
  p.validation_years = {2001, 2001};
  p.validation_fraction = 1.0;
  p.statistics = data_file("stats_protocol5.pkl").string();
  prepare_samples(p, d, ctx, prov);
  EXPECT_FALSE(fs::exists(p.train_path()));
  const SampleStore store(p.validation_path());
  const StatisticsFile e = expected();
  EXPECT_EQ(store.stats().feature_mean, e.stats.feature_mean);
  EXPECT_EQ(store.stats().feature_std, e.stats.feature_std);
  EXPECT_EQ(store.stats().target_mean, e.stats.target_mean);
  EXPECT_EQ(store.stats().target_std, e.stats.target_std);

  ArtifactInfo info;
  info.shape = InputShape::of(store);
  info.lead = store.header().lead;
  info.stats = e.stats;
  EXPECT_NO_THROW(check_store_matches(info, store));
  info.stats.feature_std[3] *= 1.001;
  try {
    check_store_matches(info, store);
    ADD_FAILURE() << "a store with other statistics was accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("normalisation statistics differ"), std::string::npos)
        << err.what();
    EXPECT_NE(std::string(err.what()).find(p.validation_path().string()), std::string::npos) << err.what();
  }

  // A file for other features is refused before anything is written.
  p.output_dir = (dir / "other").string();
  p.statistics = data_file("stats_13_features.pkl").string();
  expect_error([&] { prepare_samples(p, d, ctx, prov); }, data_file("stats_13_features.pkl"),
               {"13 features"});
  EXPECT_FALSE(fs::exists(dir / "other"));
}

}  // namespace
}  // namespace fluxkit
