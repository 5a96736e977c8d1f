#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fluxkit/analysis/explore.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

// ---- streaming statistics
// ----------------------------------------------------------------------------------------

TEST(ExploreStatistics, MomentsInChunksEqualOnePass) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g(3.0, 2.0);
  std::vector<double> x(1000);
  for (auto& v : x)
    v = g(rng);
  x[17] = std::nan("");
  RunningMoments whole, parts;
  whole.add(x);
  for (std::size_t i = 0; i < x.size(); i += 137)
    parts.add(std::span<const double>(x).subspan(i, std::min<std::size_t>(137, x.size() - i)));
  double n = 0, mean = 0, lo = 1e300, hi = -1e300;
  for (double v : x)
    if (!std::isnan(v)) {
      n += 1;
      mean += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  mean /= n;
  double ss = 0;
  for (double v : x)
    if (!std::isnan(v)) ss += (v - mean) * (v - mean);
  for (const auto* m : {&whole, &parts}) {
    EXPECT_EQ(m->n, 999);
    EXPECT_NEAR(m->mean, mean, 1e-12);
    EXPECT_NEAR(m->variance_ddof1(), ss / (n - 1), 1e-10);
    EXPECT_EQ(m->min, lo);
    EXPECT_EQ(m->max, hi);
  }
  RunningMoments empty;
  EXPECT_TRUE(std::isnan(empty.variance_ddof1()));
}

TEST(ExploreStatistics, CorrelationsMergeAndSkipIncompleteRows) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  const std::size_t n = 500, v = 3;
  std::vector<double> rows(n * v);
  for (std::size_t r = 0; r < n; ++r) {
    const double a = g(rng), b = g(rng);
    rows[r * v + 0] = a;
    rows[r * v + 1] = 2 * a + 0.5 * b + 10;  // correlated with a
    rows[r * v + 2] = -3 * a + 1;            // exactly anti-correlated with a
  }
  rows[5 * v + 1] = std::nan("");  // an incomplete row is left out of every pair
  CoMoments whole(v), parts(v);
  whole.add_rows(rows);
  for (std::size_t r = 0; r < n; r += 64)
    parts.add_rows(std::span<const double>(rows).subspan(r * v, std::min<std::size_t>(64, n - r) * v));
  // direct Pearson over the complete rows
  auto direct = [&](std::size_t a, std::size_t b) {
    double ma = 0, mb = 0, k = 0;
    for (std::size_t r = 0; r < n; ++r)
      if (r != 5) {
        ma += rows[r * v + a];
        mb += rows[r * v + b];
        k += 1;
      }
    ma /= k;
    mb /= k;
    double sab = 0, saa = 0, sbb = 0;
    for (std::size_t r = 0; r < n; ++r)
      if (r != 5) {
        sab += (rows[r * v + a] - ma) * (rows[r * v + b] - mb);
        saa += (rows[r * v + a] - ma) * (rows[r * v + a] - ma);
        sbb += (rows[r * v + b] - mb) * (rows[r * v + b] - mb);
      }
    return sab / std::sqrt(saa * sbb);
  };
  for (const auto* c : {&whole, &parts}) {
    EXPECT_EQ(c->n, n - 1);
    EXPECT_NEAR(c->correlation(0, 1), direct(0, 1), 1e-12);
    EXPECT_NEAR(c->correlation(0, 2), -1.0, 1e-12);
    EXPECT_NEAR(c->correlation(1, 2), direct(1, 2), 1e-12);
  }
  CoMoments constant(2);
  const std::vector<double> flat = {1, 2, 1, 3, 1, 4};
  constant.add_rows(flat);
  EXPECT_TRUE(std::isnan(constant.correlation(0, 1)));
}

TEST(ExploreStatistics, BinnedKdeMatchesTheExactKde) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(0.3, 0.8);
  std::vector<double> x(20000);
  for (auto& v : x)
    v = g(rng);
  const double lo = -8, width = 16.0 / 4096;
  std::vector<double> counts(4096, 0);
  RunningMoments m;
  m.add(x);
  for (double v : x)
    counts[static_cast<std::size_t>((v - lo) / width)] += 1;
  std::vector<double> points;
  for (double p = -4; p <= 4; p += 0.25)
    points.push_back(p);
  const auto kde = binned_kde(counts, lo, width, m.n, m.m2, points);
  const double bw = std::sqrt(m.variance_ddof1()) * std::pow(m.n, -0.2);  // Scott, as scipy's gaussian_kde
  double peak = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    double s = 0;
    for (double v : x)
      s += std::exp(-0.5 * std::pow((points[i] - v) / bw, 2));
    const double exact = s / (m.n * bw * std::sqrt(2 * std::numbers::pi));
    peak = std::max(peak, exact);
    EXPECT_NEAR(kde[i], exact, 1e-3 * 0.5) << points[i];
  }
  EXPECT_GT(peak, 0.4);
  const std::vector<double> one_value(4096, 0);
  EXPECT_TRUE(std::isnan(binned_kde(one_value, lo, width, 10, 0.0, points)[0]));
}

// ---- the command on a synthetic experiment
// -------------------------------------------------------------------------

class Explore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("fluxkit_explore_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* grid : {"regular", "orca"}) {
      synth::SynthOceanParams p;
      p.output_dir = (root_ / "data" / grid).string();
      p.start_year = 2000;
      p.end_year = 2002;
      p.resolution = 10.0;
      p.grid = grid;
      Context ctx;
      synth::generate_ocean(p, ctx, kProv);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static DataParams data(const char* grid) {
    DataParams d;
    d.root = (root_ / "data" / grid).string();
    return d;
  }
  static ExploreParams params(const std::string& out) {
    ExploreParams p;
    p.years = {2000, 2002};
    p.regions = {"north_atlantic", "southern_ocean", "global"};
    p.output_dir = (root_ / out).string();
    return p;
  }
  static std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  static inline fs::path root_;
};

TEST_F(Explore, WritesTheTablesIndependentOfThreadsAndOrcaTraps) {
  Context one, two, four;
  one.threads = 1;
  two.threads = 2;
  four.threads = 4;
  const auto a = explore(params("a"), data("regular"), one, kProv);
  // b: every chosen month read again in the second pass; c: some kept, some read again (a 10-degree month of
  // the three regions is about 40 kB)
  auto pb = params("b"), pc = params("c");
  pb.keep_mb = 0;
  pc.keep_mb = 0.1;
  const auto b = explore(pb, data("regular"), four, kProv);
  const auto c = explore(pc, data("regular"), two, kProv);
  explore(params("orca"), data("orca"), two, kProv);
  EXPECT_EQ(a.files_read,
            3u * 2u);  // the chosen months kept from the first pass over 3 years x 2 experiments
  EXPECT_EQ(b.files_read, 2u * 3u * 2u);  // two passes
  EXPECT_GT(c.files_read, a.files_read);
  EXPECT_LT(c.files_read, b.files_read);
  for (const char* name : {"statistics.csv", "climatology.csv", "distributions.csv", "correlations.csv"}) {
    const std::string ta = read(root_ / "a" / name);
    EXPECT_GT(ta.size(), 100u) << name;
    EXPECT_EQ(ta, read(root_ / "b" / name)) << name << ": depends on the thread count or keep_mb";
    EXPECT_EQ(ta, read(root_ / "c" / name)) << name << ": depends on the thread count or keep_mb";
    // The ORCA grid holds the same ocean plus halo columns, a north fold and land filled with 0 and 1e20: the
    // repeated cells and the land must not count.
    EXPECT_EQ(ta, read(root_ / "orca" / name)) << name << ": ORCA traps counted";
  }
  const std::string stats = read(root_ / "a" / "statistics.csv");
  EXPECT_NE(stats.find("experiment_5,southern_ocean,co2flux_pre,mol m-2 yr-1,"), std::string::npos);
  // the distributions hold the chosen months only: 80 bins x 2 months x 11 variables x 3 regions x 2
  // experiments
  const std::string dist = read(root_ / "a" / "distributions.csv");
  EXPECT_EQ(std::count(dist.begin(), dist.end(), '\n'), 1 + 80 * 2 * 11 * 3 * 2);
  // correlations: 13 months (12 + all) x 11 x 11 per region and experiment
  const std::string cor = read(root_ / "a" / "correlations.csv");
  EXPECT_EQ(std::count(cor.begin(), cor.end(), '\n'), 1 + 13 * 121 * 3 * 2);
}

TEST_F(Explore, NamesEveryMissingFile) {
  auto p = params("missing");
  p.years = {1999, 2003};
  try {
    explore(p, data("regular"), Context{}, kProv);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("4 yearly file(s) missing"), std::string::npos) << what;
    EXPECT_NE(what.find("experiment_5 2003"), std::string::npos) << what;
    EXPECT_NE(what.find("experiment_1 1999"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(root_ / "missing" / "statistics.csv"));
}

TEST(ExploreParamsTest, Validation) {
  auto error_of = [](const std::string& toml) {
    try {
      config::Document::from_string(toml).get<ExploreParams>();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of("[explore]\nmonths = [1, 7]\n"), "");
  EXPECT_NE(error_of("[explore]\nmonths = [13]\n").find("explore.months"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nbins = 1\n").find("explore.bins"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nregions = [\"atlantis\"]\n").find("unknown region"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nyears = [2010, 2000]\n").find("explore.years"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nrange = 9.0\n").find("explore.range"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nkeep_mb = -1.0\n").find("explore.keep_mb"), std::string::npos);
  EXPECT_NE(error_of("[explore]\nregions = [\"north_atlantic\", \"north_atlantic\"]\n").find("twice"),
            std::string::npos);
}

}  // namespace
}  // namespace fluxkit
