// The transport operator on small random in-memory cases: equality with a dense reference (K as a dense
// [nobs x (nt*nlat*nlon)] matrix), the adjoint test, time matching (skip/truncate), grid checks, thread-count
// invariance, and the forward output columns of the db.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/operator.hpp"
#include "transport/operator_case.hpp"

namespace fluxkit::transport {
namespace {

using namespace testcase;

// ---- dense reference --------------------------------------------------------------------------------------

struct Dense {
  std::size_t ncols = 0;
  std::vector<std::vector<double>> K;  // [row][t * plane + cell], empty when the observation is skipped
  std::vector<double> totals;
};

// Builds K row by row with a linear search of each slice in the axis (independent of the hash matcher).
Dense dense_reference(const Case& c, bool truncate) {
  Dense d;
  const std::size_t plane = c.grid.nlat * c.grid.nlon;
  d.ncols = c.axis.size() * plane;
  d.K.resize(c.nrows);
  d.totals.assign(c.nrows, 0.0);
  for (const auto& file : c.files) {
    const auto& store = c.source.files.at(file.path.string());
    for (const auto& o : file.obs) {
      const auto it = store.find(o.key);
      if (it == store.end()) continue;
      std::vector<double> row(d.ncols, 0.0);
      bool skip = false;
      double total = 0.0;
      for (const auto& s : it->second.slices) {
        std::size_t t = c.axis.size();
        for (std::size_t k = 0; k < c.axis.size(); ++k)
          if (c.axis.start[k] == s.start && c.axis.end[k] == s.end) {
            t = k;
            break;
          }
        if (t == c.axis.size()) {
          skip = !truncate;
          continue;
        }
        for (std::size_t k = 0; k < s.resp.size(); ++k) {
          row[t * plane + static_cast<std::size_t>(s.ilat[k]) * c.grid.nlon +
              static_cast<std::size_t>(s.ilon[k])] += static_cast<double>(s.resp[k]);
          total += static_cast<double>(s.resp[k]);
        }
      }
      if (skip) continue;
      d.K[o.row] = std::move(row);
      d.totals[o.row] = total;
    }
  }
  return d;
}

std::vector<double> dy_by_row(const Case& c) {
  std::vector<double> dy(c.nrows, 0.0);
  for (const auto& f : c.files)
    for (const auto& o : f.obs)
      dy[o.row] = o.dy;
  return dy;
}

void expect_close(double got, double want, double scale, const std::string& what) {
  EXPECT_LE(std::abs(got - want), 1e-12 * std::max(scale, 1e-300))
      << what << ": got " << got << ", want " << want;
}

// ---- dense-reference equality -----------------------------------------------------------------------------

class DenseReference : public ::testing::TestWithParam<std::tuple<std::uint64_t, bool>> {};

TEST_P(DenseReference, ForwardEqualsDenseProduct) {
  const auto [seed, truncate] = GetParam();
  const Case c = make_case(seed);
  const Dense d = dense_reference(c, truncate);
  OperatorOptions opt;
  opt.truncate = truncate;
  const ForwardResult fwd = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(2));
  ASSERT_EQ(fwd.obs.size(), c.nrows);
  std::size_t computed = 0;
  for (const auto& r : fwd.obs) {
    ASSERT_LT(r.row, c.nrows);
    if (d.K[r.row].empty()) {
      EXPECT_NE(r.status, ObsStatus::Computed) << "row " << r.row;
      continue;
    }
    ++computed;
    ASSERT_EQ(r.status, ObsStatus::Computed) << "row " << r.row;
    ASSERT_EQ(r.values.size(), c.flux.categories.size());
    for (std::size_t cat = 0; cat < c.flux.categories.size(); ++cat) {
      double want = 0.0, scale = 0.0;
      for (std::size_t k = 0; k < d.ncols; ++k) {
        want += d.K[r.row][k] * c.flux.categories[cat].emis[k];
        scale += std::abs(d.K[r.row][k] * c.flux.categories[cat].emis[k]);
      }
      expect_close(r.values[cat], want, scale, fmt::format("row {} category {}", r.row, cat));
    }
    expect_close(r.total, d.totals[r.row], d.totals[r.row], fmt::format("totals of row {}", r.row));
  }
  EXPECT_EQ(fwd.computed, computed);
  EXPECT_GT(computed, 3u);
  EXPECT_GT(fwd.no_footprint, 0u);
  if (truncate) {
    EXPECT_EQ(fwd.outside_period, 0u);
  } else {
    EXPECT_GT(fwd.outside_period, 0u);
  }
}

TEST_P(DenseReference, AdjointEqualsDenseTransposeProduct) {
  const auto [seed, truncate] = GetParam();
  const Case c = make_case(seed);
  const Dense d = dense_reference(c, truncate);
  const std::vector<double> dy = dy_by_row(c);
  OperatorOptions opt;
  opt.truncate = truncate;
  const AdjointResult adj = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(2));
  ASSERT_EQ(adj.field.size(), d.ncols);
  std::size_t nonzero = 0;
  for (std::size_t k = 0; k < d.ncols; ++k) {
    double want = 0.0, scale = 0.0;
    for (std::size_t r = 0; r < c.nrows; ++r)
      if (!d.K[r].empty()) {
        want += d.K[r][k] * dy[r];
        scale += std::abs(d.K[r][k] * dy[r]);
      }
    expect_close(adj.field[k], want, scale, fmt::format("adjoint cell {}", k));
    if (want != 0.0) ++nonzero;
  }
  EXPECT_GT(nonzero, 10u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, DenseReference,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u, 17u, 2024u), ::testing::Bool()));

// ---- adjoint test -----------------------------------------------------------------------------------------

TEST(AdjointTest, BelowOneEMinus12) {
  for (const std::uint64_t seed : {5u, 6u, 7u}) {
    for (const bool truncate : {false, true}) {
      const Case c = make_case(seed, 6, 1, 40, {9, 11});
      OperatorOptions opt;
      opt.truncate = truncate;
      for (const std::size_t ncat : {1u, 3u}) {
        const AdjointTestResult r =
            FootprintOperator(c.source).adjoint_test(c.axis, c.grid, ncat, c.files, opt, threads(2), seed);
        EXPECT_GT(r.observations, 5u);
        EXPECT_GT(r.x_hty, 0.0);
        EXPECT_LT(std::abs(r.value), 1e-12)
            << "seed " << seed << " truncate " << truncate << " ncat " << ncat;
      }
    }
  }
}

TEST(AdjointTest, ForwardAndAdjointAreTransposesOnTheFluxFile) {
  // <Hx, y> = <x, H^T y> with the flux file's own fields (one category) and the case's departures.
  const Case c = make_case(11, 5, 1);
  const ForwardResult fwd = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  const AdjointResult adj = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
  const std::vector<double> dy = dy_by_row(c);
  long double a = 0, b = 0, scale = 0;
  for (const auto& r : fwd.obs)
    if (r.status == ObsStatus::Computed) {
      a += static_cast<long double>(r.values[0]) * dy[r.row];
      scale += std::abs(static_cast<long double>(r.values[0]) * dy[r.row]);
    }
  for (std::size_t k = 0; k < adj.field.size(); ++k)
    b += static_cast<long double>(c.flux.categories[0].emis[k]) * adj.field[k];
  EXPECT_LE(std::abs(static_cast<double>(a - b)), 1e-12 * static_cast<double>(scale));
}

// ---- time matching ----------------------------------------------------------------------------------------

// One file, one observation per footprint, one category equal to 1 everywhere on an axis of `nt` 3-hour steps
// (so the forward value is the sum of resp over the used slices).
struct TimeCase {
  TimeAxis axis = TimeAxis::regular(kT0, kT0 + 8 * 3 * kHour, 3 * kHour);
  GridShape grid{2, 3};
  FluxFile flux;
  MemoryFootprintSource source;
  std::vector<FileTask> files{FileTask{"f.h5", {}, 0}};

  TimeCase() {
    std::mt19937_64 rng(1);
    flux = make_flux(axis, grid, 1, rng);
    std::fill(flux.categories[0].emis.begin(), flux.categories[0].emis.end(), 1.0);
    source.files["f.h5"];
  }
  // A footprint with one non-zero (0, 0, resp = 1) per slice [start, end).
  void add(const std::string& key, const std::vector<std::pair<std::int64_t, std::int64_t>>& slices,
           double dy = 1) {
    Footprint fp;
    fp.key = key;
    for (const auto& [s, e] : slices)
      fp.slices.push_back(FootprintSlice{s, e, {0}, {0}, {1.0f}});
    source.files["f.h5"][key] = fp;
    files[0].obs.push_back(ObsTask{files[0].obs.size(), 0, key, dy});
  }
  std::pair<std::int64_t, std::int64_t> step(std::int64_t k) const {
    return {kT0 + k * 3 * kHour, kT0 + (k + 1) * 3 * kHour};
  }
};

TEST(TimeMatching, ExactStartAndEndEquality) {
  TimeCase c;
  c.add("inside", {c.step(0), c.step(1), c.step(7)});
  c.add("start_off_by_one_second", {c.step(2), {c.step(3).first + 1, c.step(3).second}});
  c.add("end_off_by_one_second", {{c.step(3).first, c.step(3).second - 1}});
  c.add("six_hour_slice", {{c.step(2).first, c.step(3).second}});
  c.add("empty", {});
  c.add("missing_key_in_file", {});
  c.source.files["f.h5"].erase("missing_key_in_file");
  const ForwardResult r = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  ASSERT_EQ(r.obs.size(), 6u);
  EXPECT_EQ(r.obs[0].status, ObsStatus::Computed);
  EXPECT_EQ(r.obs[0].values[0], 3.0);
  EXPECT_EQ(r.obs[0].total, 3.0);
  EXPECT_EQ(r.obs[0].slices, 3u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(r.obs[i].status, ObsStatus::OutsidePeriod) << i;
    EXPECT_TRUE(r.obs[i].values.empty());
    EXPECT_EQ(r.obs[i].dropped, 1u);
  }
  EXPECT_EQ(r.obs[4].status, ObsStatus::Computed);  // LUMIA: a footprint without slices gives 0.0, not a skip
  EXPECT_EQ(r.obs[4].values[0], 0.0);
  EXPECT_EQ(r.obs[4].total, 0.0);
  EXPECT_EQ(r.obs[5].status, ObsStatus::NoFootprint);
  EXPECT_EQ(r.computed, 2u);
  EXPECT_EQ(r.outside_period, 3u);
  EXPECT_EQ(r.no_footprint, 1u);
}

TEST(TimeMatching, SkipVersusTruncateBeforeAndAfterThePeriod) {
  TimeCase c;
  c.add("before", {c.step(-2), c.step(-1), c.step(0), c.step(1)}, 2.0);
  c.add("after", {c.step(6), c.step(7), c.step(8)}, 3.0);
  c.add("entirely_after", {c.step(9), c.step(10)}, 5.0);
  c.add("inside", {c.step(3), c.step(4)}, 7.0);

  // Skip (LUMIA v2020): the whole observation, forward and adjoint.
  const ForwardResult skip = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  EXPECT_EQ(skip.obs[0].status, ObsStatus::OutsidePeriod);
  EXPECT_EQ(skip.obs[0].dropped, 2u);
  EXPECT_EQ(skip.obs[1].status, ObsStatus::OutsidePeriod);
  EXPECT_EQ(skip.obs[1].dropped, 1u);
  EXPECT_EQ(skip.obs[2].status, ObsStatus::OutsidePeriod);
  EXPECT_EQ(skip.obs[3].status, ObsStatus::Computed);
  EXPECT_EQ(skip.obs[3].values[0], 2.0);
  EXPECT_EQ(skip.outside_period, 3u);
  const AdjointResult adj_skip = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
  const std::size_t plane = c.grid.nlat * c.grid.nlon;
  for (std::size_t t = 0; t < c.axis.size(); ++t)
    EXPECT_EQ(adj_skip.field[t * plane], t == 3 || t == 4 ? 7.0 : 0.0) << "step " << t;
  EXPECT_EQ(adj_skip.outside_period, 3u);

  // Truncate: the slices outside are dropped, the others used.
  OperatorOptions opt;
  opt.truncate = true;
  const ForwardResult trunc = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(1));
  EXPECT_EQ(trunc.obs[0].status, ObsStatus::Computed);
  EXPECT_EQ(trunc.obs[0].values[0], 2.0);
  EXPECT_EQ(trunc.obs[0].total, 2.0);
  EXPECT_EQ(trunc.obs[0].slices, 2u);
  EXPECT_EQ(trunc.obs[0].dropped, 2u);
  EXPECT_EQ(trunc.obs[1].values[0], 2.0);
  EXPECT_EQ(trunc.obs[2].status, ObsStatus::Computed);  // every slice dropped: 0.0
  EXPECT_EQ(trunc.obs[2].values[0], 0.0);
  EXPECT_EQ(trunc.truncated, 3u);
  EXPECT_EQ(trunc.outside_period, 0u);
  const AdjointResult adj_trunc =
      FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(1));
  const std::vector<double> want{2, 2, 0, 7, 7, 0, 3, 3};
  for (std::size_t t = 0; t < c.axis.size(); ++t)
    EXPECT_EQ(adj_trunc.field[t * plane], want[t]) << "step " << t;
  EXPECT_EQ(adj_trunc.truncated, 3u);
}

TEST(TimeMatching, NonUniformAxisAndRepeatedInterval) {
  TimeAxis axis;
  // 1 h, 2 h, 6 h, 1 day, then the 1 h step again (a repeated interval maps to its first step).
  const std::vector<std::int64_t> len{1, 2, 6, 24};
  std::int64_t t = kT0;
  for (const auto l : len) {
    axis.start.push_back(t);
    axis.end.push_back(t + l * kHour);
    t += l * kHour;
  }
  axis.start.push_back(kT0);
  axis.end.push_back(kT0 + kHour);
  const SliceMatcher m(axis);
  EXPECT_EQ(m.find(kT0, kT0 + kHour), 0u);
  EXPECT_EQ(m.find(kT0 + kHour, kT0 + 3 * kHour), 1u);
  EXPECT_EQ(m.find(kT0 + 3 * kHour, kT0 + 9 * kHour), 2u);
  EXPECT_EQ(m.find(kT0 + 9 * kHour, kT0 + 33 * kHour), 3u);
  EXPECT_EQ(m.find(kT0 + kHour, kT0 + 2 * kHour), SliceMatcher::npos);
  EXPECT_EQ(m.find(kT0 - kHour, kT0), SliceMatcher::npos);
}

TEST(TimeMatching, HashLookupAgreesWithLinearSearch) {
  std::mt19937_64 rng(3);
  TimeAxis axis;
  std::int64_t t = kT0;
  for (int k = 0; k < 3000; ++k) {
    const std::int64_t l = static_cast<std::int64_t>(rng() % 4 + 1) * kHour;
    axis.start.push_back(t);
    axis.end.push_back(t + l);
    t += l;
  }
  const SliceMatcher m(axis);
  for (int q = 0; q < 20000; ++q) {
    const std::int64_t s = kT0 + static_cast<std::int64_t>(rng() % 12000) * kHour - 100 * kHour;
    const std::int64_t e = s + static_cast<std::int64_t>(rng() % 4 + 1) * kHour;
    std::size_t want = SliceMatcher::npos;
    for (std::size_t k = 0; k < axis.size(); ++k)
      if (axis.start[k] == s && axis.end[k] == e) {
        want = k;
        break;
      }
    ASSERT_EQ(m.find(s, e), want);
  }
  for (std::size_t k = 0; k < axis.size(); ++k)
    ASSERT_EQ(m.find(axis.start[k], axis.end[k]), k);
}

TEST(TimeMatching, CategoriesOnDifferentAxes) {
  // Category a on 3-hour steps, b on 3-hour steps over a shorter period: a slice outside b's axis skips the
  // observation (LUMIA: ValueError in any category), or is dropped for every category under truncate.
  TimeCase c;
  FluxCategory b = c.flux.categories[0];
  b.name = "short";
  b.nt = 4;
  b.emis.assign(4 * c.grid.nlat * c.grid.nlon, 10.0);
  b.times_start.resize(4);
  b.times_end.resize(4);
  c.flux.categories.push_back(b);
  c.add("both", {c.step(1), c.step(2)});
  c.add("partly", {c.step(3), c.step(4)});
  const ForwardResult skip = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  EXPECT_EQ(skip.obs[0].status, ObsStatus::Computed);
  EXPECT_EQ(skip.obs[0].values, (std::vector<double>{2.0, 20.0}));
  EXPECT_EQ(skip.obs[1].status, ObsStatus::OutsidePeriod);
  OperatorOptions opt;
  opt.truncate = true;
  const ForwardResult trunc = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(1));
  EXPECT_EQ(trunc.obs[1].values, (std::vector<double>{1.0, 10.0}));
  EXPECT_EQ(trunc.obs[1].total, 1.0);
}

TEST(TimeMatching, CalendarConversions) {
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({1970, 1, 1, 0, 0, 0}), 0);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({2018, 1, 1, 0, 0, 0}), kT0);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({2000, 2, 29, 23, 59, 59}), 951868799);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({1969, 12, 31, 23, 0, 0}), -3600);
  for (std::int64_t s = -5000000000; s < 5000000000; s += 7777777) {
    const TimeStamp t = fluxkit::cftime::epoch_seconds_to_civil(s);
    ASSERT_EQ(fluxkit::cftime::civil_to_epoch_seconds(t), s);
  }
  EXPECT_EQ(fluxkit::cftime::epoch_seconds_to_civil(1488326400), (TimeStamp{2017, 3, 1, 0, 0, 0}));
  const TimeAxis a = TimeAxis::regular(0, 10, 3);
  EXPECT_EQ(a.start, (std::vector<std::int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(a.end, (std::vector<std::int64_t>{3, 6, 9, 12}));
  EXPECT_THROW(TimeAxis::regular(0, 10, 0), Error);
}

// ---- duplicates and arithmetic ----------------------------------------------------------------------------

TEST(Arithmetic, DuplicatedCellsAreSummedInBothDirections) {
  TimeCase c;
  c.flux.categories[0].at(2, 1, 2) = 0.5;
  Footprint fp;
  fp.key = "dup";
  fp.slices.push_back(
      FootprintSlice{c.step(2).first, c.step(2).second, {1, 1, 0}, {2, 2, 0}, {0.25f, 0.5f, 2.0f}});
  c.source.files["f.h5"]["dup"] = fp;
  c.files[0].obs.push_back(ObsTask{0, 0, "dup", 4.0});
  const ForwardResult r = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  EXPECT_EQ(r.obs[0].values[0], 0.25 * 0.5 + 0.5 * 0.5 + 2.0);
  EXPECT_EQ(r.obs[0].total, 2.75);
  const AdjointResult a = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
  const std::size_t plane = 6;
  EXPECT_EQ(a.field[2 * plane + 1 * 3 + 2], (0.25 + 0.5) * 4.0);  // LUMIA's adjoint kept only one (2.0)
  EXPECT_EQ(a.field[2 * plane], 8.0);
}

TEST(Arithmetic, RespIsConvertedExactlyAndAccumulatedInDouble) {
  TimeCase c;
  const float tiny = 1.0e-8f;
  Footprint fp;
  fp.key = "acc";
  FootprintSlice s{c.step(0).first, c.step(0).second, {}, {}, {}};
  s.ilat.push_back(0);
  s.ilon.push_back(0);
  s.resp.push_back(1.0f);
  for (int k = 0; k < 1000; ++k) {
    s.ilat.push_back(0);
    s.ilon.push_back(1);
    s.resp.push_back(tiny);
  }
  fp.slices.push_back(s);
  c.source.files["f.h5"]["acc"] = fp;
  c.files[0].obs.push_back(ObsTask{0, 0, "acc", 1.0});
  const ForwardResult r = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  double want = 1.0;
  for (int k = 0; k < 1000; ++k)
    want += static_cast<double>(tiny);
  EXPECT_EQ(r.obs[0].total, want);  // a float32 sum would stay at 1.0
  EXPECT_GT(r.obs[0].total, 1.0 + 9e-6);
}

// ---- errors -----------------------------------------------------------------------------------------------

TEST(Errors, IndexOutsideTheGridNamesFileObservationAndSlice) {
  for (const auto& [ilat, ilon] : std::vector<std::pair<int, int>>{{2, 0}, {0, 3}, {-1, 0}, {0, -5}}) {
    TimeCase c;
    c.add("20180101060000", {c.step(1)});
    c.source.files["f.h5"]["20180101060000"].slices[0].ilat[0] = ilat;
    c.source.files["f.h5"]["20180101060000"].slices[0].ilon[0] = ilon;
    for (int direction = 0; direction < 2; ++direction) {
      try {
        if (direction == 0)
          (void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
        else
          (void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
        ADD_FAILURE() << "no error for index " << ilat << ", " << ilon;
      } catch (const FileError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("f.h5"), std::string::npos) << msg;
        EXPECT_NE(msg.find("20180101060000"), std::string::npos) << msg;
        EXPECT_NE(msg.find("2018-01-01 03:00:00"), std::string::npos) << msg;
        EXPECT_NE(msg.find("2018-01-01 06:00:00"), std::string::npos) << msg;
        EXPECT_NE(msg.find(fmt::format("ilat {}, ilon {}", ilat, ilon)), std::string::npos) << msg;
        EXPECT_NE(msg.find("2 x 3"), std::string::npos) << msg;
      }
    }
  }
}

TEST(Errors, UnequalArrayLengths) {
  TimeCase c;
  c.add("k", {c.step(1)});
  c.source.files["f.h5"]["k"].slices[0].ilon.push_back(0);
  EXPECT_THROW((void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)), FileError);
}

TEST(Errors, MissingFootprintFileNamesIt) {
  TimeCase c;
  c.add("k", {c.step(1)});
  c.files.push_back(FileTask{"missing/nor.100m.2018-01.h5", {ObsTask{9, 0, "k", 1.0}}, 0});
  try {
    (void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(2));
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("missing/nor.100m.2018-01.h5"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(2)), FileError);
}

TEST(Errors, TheFirstErrorInScheduleOrderIsReportedForAnyThreadCount) {
  Case c = make_case(4, 8);
  for (std::size_t f = 0; f < c.files.size(); ++f)
    c.files[f].weight = 100 - f;  // schedule order = file order
  for (const std::size_t bad : {std::size_t{2}, std::size_t{5}}) {
    auto& store = c.source.files[c.files[bad].path.string()];
    for (auto& [key, fp] : store)
      for (auto& s : fp.slices)
        if (!s.ilat.empty()) s.ilat[0] = 99;
  }
  for (const int n : {1, 2, 3, 8}) {
    try {
      (void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(n));
      ADD_FAILURE() << "no error";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find("site2.h5"), std::string::npos) << n << " threads: " << e.what();
    }
  }
}

TEST(Errors, NaNDepartureOfAContributingObservation) {
  TimeCase c;
  c.add("ok", {c.step(1)}, 1.0);
  c.add("nan_but_skipped", {c.step(-1)}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_NO_THROW((void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1)));
  c.add("nan", {c.step(2)}, std::numeric_limits<double>::quiet_NaN());
  try {
    (void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("'nan'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dy is NaN"), std::string::npos) << e.what();
  }
}

TEST(Errors, InconsistentFluxCategories) {
  TimeCase c;
  c.add("k", {c.step(1)});
  FluxFile grids = c.flux;
  grids.categories.push_back(c.flux.categories[0]);
  grids.categories[1].name = "other";
  grids.categories[1].nlon = 2;
  grids.categories[1].emis.resize(8 * 2 * 2);
  try {
    (void)FootprintOperator(c.source).forward(grids, c.files, {}, threads(1));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different grids"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'other'"), std::string::npos) << e.what();
  }
  FluxFile sizes = c.flux;
  sizes.categories[0].emis.pop_back();
  EXPECT_THROW((void)FootprintOperator(c.source).forward(sizes, c.files, {}, threads(1)), Error);
  FluxFile times = c.flux;
  times.categories[0].times_end.pop_back();
  EXPECT_THROW((void)FootprintOperator(c.source).forward(times, c.files, {}, threads(1)), Error);
  EXPECT_THROW((void)FootprintOperator(c.source).forward(FluxFile{}, c.files, {}, threads(1)), Error);
}

TEST(Errors, FootprintGridMustBeTheFluxGrid) {
  TimeCase c;
  c.add("k", {c.step(1)});
  // make_flux: lats 40.25 + 0.5 i, lons -10.25 + 0.5 j.
  c.source.grids["f.h5"] = FootprintGrid{{40.25, 40.75}, {-10.25, -9.75, -9.25}};
  EXPECT_NO_THROW((void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)));
  c.source.grids["f.h5"] = FootprintGrid{{40.75, 41.25, 41.75}, {-10.25, -9.75, -9.25}};  // not containing it
  try {
    (void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("f.h5: mismatched grids: the footprints are on a 3 x 3"),
              std::string::npos)
        << e.what();
  }
  c.source.grids["f.h5"] = FootprintGrid{{40.25}, {-10.25, -9.75, -9.25}};  // smaller than the flux grid
  EXPECT_THROW((void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)), FileError);
  c.source.grids["f.h5"] = FootprintGrid{{40.25, 40.75}, {-10.0, -9.5, -9.0}};  // shifted by a quarter cell
  EXPECT_THROW((void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)), FileError);
  OperatorOptions off;
  off.check_grid = false;
  EXPECT_NO_THROW((void)FootprintOperator(c.source).forward(c.flux, c.files, off, threads(1)));
  // The adjoint checks against the grid it is given (the rc's).
  EXPECT_NO_THROW((void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1)));
  OperatorOptions rc_grid;
  rc_grid.lats = {40.25, 40.75};
  rc_grid.lons = {-10.25, -9.75, -9.25};
  EXPECT_THROW((void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, rc_grid, threads(1)),
               FileError);
}

TEST(Grids, ALargerFootprintGridIsMappedOntoTheFluxGridAndCellsOutsideAreDiscarded) {
  TimeCase c;  // flux grid: lats 40.25, 40.75; lons -10.25, -9.75, -9.25
  auto& emis = c.flux.categories[0].emis;
  for (std::size_t t = 0; t < 8; ++t)
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t j = 0; j < 3; ++j)
        emis[(t * 2 + i) * 3 + j] = static_cast<double>(100 * t + 10 * i + j + 1);
  // A STILT-like domain one cell larger on every side but the east: 4 x 5 cells, the flux grid at (1, 1).
  c.source.grids["f.h5"] = FootprintGrid{{39.75, 40.25, 40.75, 41.25}, {-10.75, -10.25, -9.75, -9.25, -8.75}};
  Footprint fp;
  fp.key = "k";
  fp.slices.push_back(FootprintSlice{
      c.step(1).first, c.step(1).second, {1, 2, 0, 3}, {1, 3, 0, 4}, {1.0f, 2.0f, 4.0f, 8.0f}});
  c.source.files["f.h5"]["k"] = fp;
  c.files[0].obs.push_back(ObsTask{0, 0, "k", 0.5});

  const ForwardResult r = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  ASSERT_EQ(r.obs[0].status, ObsStatus::Computed);
  EXPECT_EQ(r.obs[0].values[0], 1.0 * 101 + 2.0 * 113);  // (1,1) -> (0,0) at step 1; (2,3) -> (1,2)
  EXPECT_EQ(r.obs[0].total, 3.0);                        // the discarded cells are not counted
  EXPECT_EQ(r.obs[0].outside_domain, 2u);
  EXPECT_EQ(r.outside_domain, 2u);

  OperatorOptions rc_grid;
  rc_grid.lats = {40.25, 40.75};
  rc_grid.lons = {-10.25, -9.75, -9.25};
  const AdjointResult a = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, rc_grid, threads(1));
  std::vector<double> expected(a.field.size(), 0.0);
  expected[(1 * 2 + 0) * 3 + 0] = 0.5;
  expected[(1 * 2 + 1) * 3 + 2] = 1.0;
  EXPECT_EQ(a.field, expected);
  EXPECT_EQ(a.outside_domain, 2u);

  // An index outside the file's own 4 x 5 grid is still an error.
  c.source.files["f.h5"]["k"].slices[0].ilat[3] = 4;
  try {
    (void)FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("(ilat 4, ilon 4) of non-zero 3 is outside the 4 x 5"),
              std::string::npos)
        << e.what();
  }
}

TEST(Keys, AnEmptyKeyIsResolvedFromTheObservationTime) {
  TimeCase c;
  c.add("20180101090000", {c.step(1)});
  c.files[0].obs[0].key = "";
  c.files[0].obs[0].time = kT0 + 9 * kHour;
  c.files[0].obs.push_back(ObsTask{1, kT0 + 10 * kHour, "", 1.0});
  const ForwardResult r = FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1));
  EXPECT_EQ(r.obs[0].status, ObsStatus::Computed);
  EXPECT_EQ(r.obs[1].status, ObsStatus::NoFootprint);
}

TEST(Ranks, FilesAreBalancedByWeightLargestFirst) {
  EXPECT_EQ(balance_by_weight({5, 3, 3, 1}, 1), (std::vector<int>{0, 0, 0, 0}));
  // 10 -> rank 0; 6 -> 1; 5 -> 1 (its load 6 < 10); 4 -> 0 (10 < 11).
  EXPECT_EQ(balance_by_weight({4, 10, 6, 5}, 2), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(balance_by_weight({7, 7, 7}, 3), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(balance_by_weight({0, 0, 0, 0}, 2), (std::vector<int>{0, 1, 0, 1}));  // empty files still spread
  EXPECT_EQ(balance_by_weight({}, 4), std::vector<int>{});
  EXPECT_THROW((void)balance_by_weight({1}, 0), Error);
}

// ---- threads ----------------------------------------------------------------------------------------------

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

TEST(Threads, ResultsAreIdenticalForAnyThreadCount) {
  const Case c = make_case(99, 11, 2, 30, {8, 9});
  for (const bool truncate : {false, true}) {
    OperatorOptions opt;
    opt.truncate = truncate;
    const ForwardResult f1 = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(1));
    const AdjointResult a1 = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(1));
    for (const int n : {2, 3, 7}) {
      for (int repeat = 0; repeat < 5; ++repeat) {
        const ForwardResult fn = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(n));
        ASSERT_EQ(fn.obs.size(), f1.obs.size());
        for (std::size_t i = 0; i < f1.obs.size(); ++i) {
          ASSERT_EQ(fn.obs[i].row, f1.obs[i].row);
          ASSERT_EQ(fn.obs[i].status, f1.obs[i].status);
          ASSERT_TRUE(bitwise_equal(fn.obs[i].values, f1.obs[i].values)) << n << " threads, obs " << i;
          ASSERT_EQ(std::memcmp(&fn.obs[i].total, &f1.obs[i].total, sizeof(double)), 0);
        }
        const AdjointResult an =
            FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(n));
        ASSERT_TRUE(bitwise_equal(an.field, a1.field)) << n << " threads";
        EXPECT_EQ(an.computed, a1.computed);
      }
    }
  }
}

TEST(Threads, ProgressCountsEveryObservation) {
  const Case c = make_case(8, 6);
  std::atomic<std::size_t> done{0};
  OperatorOptions opt;
  opt.progress = [&](std::size_t n) { done += n; };
  (void)FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(3));
  EXPECT_EQ(done.load(), c.nrows);
  done = 0;
  (void)FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(3));
  EXPECT_EQ(done.load(), c.nrows);
}

TEST(Threads, NoFilesGiveEmptyResults) {
  const Case c = make_case(8, 0);
  EXPECT_TRUE(FootprintOperator(c.source).forward(c.flux, {}, {}, threads(4)).obs.empty());
  const AdjointResult a = FootprintOperator(c.source).adjoint(c.axis, c.grid, {}, {}, threads(4));
  EXPECT_EQ(a.field.size(), c.axis.size() * c.grid.nlat * c.grid.nlon);
  EXPECT_TRUE(std::all_of(a.field.begin(), a.field.end(), [](double v) { return v == 0.0; }));
}

// ---- db columns (spec §8) ---------------------------------------------------------------------------------

TEST(DbColumns, LumiaSemanticsForComputedAndSkippedRows) {
  CsvTable obs;
  obs.columns = {"time", "site", "footprint", "obs", "foreground", "biosphere"};
  obs.index = {"0", "1", "2", "3", "4"};
  obs.rows = {
      {"20180101030000", "nor", "a.h5", "400.5", "9.0", "9.0"},  // computed
      {"20180101040000", "nor", "a.h5", "401.5", "9.0", "9.0"},  // no footprint group
      {"20180101050000", "nor", "", "402.5", "9.0", "9.0"},      // no footprint file: not visited
      {"20180101060000", "nor", "a.h5", "403.5", "9.0", "9.0"},  // outside the period
      {"20180101070000", "htm", "b.h5", "404.5", "9.0", "9.0"},  // computed
  };
  ForwardResult r;
  r.obs.push_back(ObsResult{0, ObsStatus::Computed, {0.1 + 0.2, 1.5, 2.0}, 19.25, 3, 0});
  r.obs.push_back(ObsResult{1, ObsStatus::NoFootprint, {}, 0.0, 0, 0});
  r.obs.push_back(ObsResult{3, ObsStatus::OutsidePeriod, {}, 0.0, 0, 2});
  r.obs.push_back(ObsResult{4, ObsStatus::Computed, {-1e-5, 1e16, 0.0}, 0.0, 0, 0});
  write_forward_columns(obs, r, {"biosphere", "fossil", "ocean"}, {"fossil", "biosphere"});

  // Existing columns keep their place and values; new ones are added in LUMIA's order.
  EXPECT_EQ(obs.columns, (std::vector<std::string>{"time", "site", "footprint", "obs", "foreground",
                                                   "biosphere", "id", "totals", "model", "fossil"}));
  const auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(obs.columns.begin(), obs.columns.end(), name) -
                                    obs.columns.begin());
  };
  const auto& r0 = obs.rows[0];
  EXPECT_EQ(r0[col("obs")], "400.5");
  EXPECT_EQ(r0[col("id")], "0.0");
  EXPECT_EQ(r0[col("totals")], "19.25");
  EXPECT_EQ(r0[col("model")], "{'biosphere': 0.30000000000000004, 'fossil': 1.5, 'ocean': 2.0}");
  EXPECT_EQ(r0[col("fossil")], "1.5");
  EXPECT_EQ(r0[col("biosphere")], "0.30000000000000004");
  EXPECT_EQ(r0[col("foreground")],
            python_float_repr(0.0 + 1.5 + (0.1 + 0.2)));  // rc order: fossil, biosphere
  for (const std::size_t row : {1u, 2u, 3u}) {
    const auto& rr = obs.rows[row];
    EXPECT_EQ(rr[col("foreground")], "0.0") << row;
    for (const char* name : {"id", "totals", "model", "fossil", "biosphere"})
      EXPECT_EQ(rr[col(name)], "") << row << " " << name;
    EXPECT_EQ(rr[col("obs")], fmt::format("40{}.5", row));
  }
  const auto& r4 = obs.rows[4];
  EXPECT_EQ(r4[col("id")], "4.0");
  EXPECT_EQ(r4[col("totals")], "0.0");
  EXPECT_EQ(r4[col("model")], "{'biosphere': -1e-05, 'fossil': 1e+16, 'ocean': 0.0}");
  EXPECT_EQ(r4[col("foreground")], "1e+16");
}

TEST(DbColumns, NonNumericIndexAndErrors) {
  CsvTable obs;
  obs.columns = {"time"};
  obs.index = {"a"};
  obs.rows = {{"20180101030000"}};
  ForwardResult r;
  r.obs.push_back(ObsResult{0, ObsStatus::Computed, {1.0}, 1.0, 1, 0});
  write_forward_columns(obs, r, {"bio"}, {"bio"});
  EXPECT_EQ(obs.rows[0][1], "a");
  EXPECT_EQ(obs.columns.back(), "bio");
  try {
    write_forward_columns(obs, r, {"bio"}, {"bio", "fossil"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fossil'"), std::string::npos) << e.what();
  }
  r.obs[0].row = 5;
  EXPECT_THROW(write_forward_columns(obs, r, {"bio"}, {"bio"}), Error);
}

TEST(DbColumns, PythonFloatRepr) {
  const std::vector<std::pair<double, std::string>> cases{
      {0.1, "0.1"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {1.5e16, "1.5e+16"},
      {1e16, "1e+16"},
      {9999999999999998.0, "9999999999999998.0"},
      {1234567890123456.0, "1234567890123456.0"},
      {100.0, "100.0"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {1.0 / 3.0, "0.3333333333333333"},
      {-2.5e-7, "-2.5e-07"},
      {123.456, "123.456"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.1 + 0.2, "0.30000000000000004"},
      {12345678.9, "12345678.9"},
      {1e22, "1e+22"},
      {9007199254740992.0, "9007199254740992.0"},
      {0.001, "0.001"},
      {std::numeric_limits<double>::quiet_NaN(), "nan"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
  };
  for (const auto& [v, want] : cases)
    EXPECT_EQ(python_float_repr(v), want);
  EXPECT_EQ(python_str_repr("biosphere"), "'biosphere'");
  EXPECT_EQ(python_str_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_str_repr("a'b\"c"), "'a\\'b\"c'");
}

}  // namespace
}  // namespace fluxkit::transport
