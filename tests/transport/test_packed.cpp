// The packed operator: forward bit-for-bit equal to the operator on the footprint source it was packed from,
// adjoint equal to rounding and independent of the thread count, the adjoint test, time matching on other
// axes, grid mapping and checks, and every bad input (observation not packed, truncated, corrupt or newer
// file, changed footprint file).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "common/temp_dir.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/packed.hpp"
#include "transport/operator_case.hpp"

namespace fluxkit::transport {
namespace {

using namespace testcase;
using fluxkit::testing::TempDir;
namespace fs = std::filesystem;

OperatorOptions grid_options(const Case& c) {
  OperatorOptions o;
  for (const float v : c.flux.categories[0].lats)
    o.lats.push_back(v);
  for (const float v : c.flux.categories[0].lons)
    o.lons.push_back(v);
  return o;
}

fs::path pack(const Case& c, const fs::path& dir, PackSummary* summary = nullptr) {
  const fs::path out = dir / "operator.fkop";
  const PackSummary s = pack_operator(out, c.files, c.source, c.grid, grid_options(c), threads(1));
  if (summary != nullptr) *summary = s;
  return out;
}

void expect_same_forward(const ForwardResult& a, const ForwardResult& b) {
  ASSERT_EQ(a.obs.size(), b.obs.size());
  for (std::size_t i = 0; i < a.obs.size(); ++i) {
    EXPECT_EQ(a.obs[i].row, b.obs[i].row);
    EXPECT_EQ(a.obs[i].status, b.obs[i].status) << "row " << a.obs[i].row;
    EXPECT_EQ(a.obs[i].slices, b.obs[i].slices) << "row " << a.obs[i].row;
    EXPECT_EQ(a.obs[i].dropped, b.obs[i].dropped) << "row " << a.obs[i].row;
    ASSERT_EQ(a.obs[i].values.size(), b.obs[i].values.size());
    if (!a.obs[i].values.empty()) {
      EXPECT_EQ(0, std::memcmp(a.obs[i].values.data(), b.obs[i].values.data(),
                               a.obs[i].values.size() * sizeof(double)))
          << "row " << a.obs[i].row;
    }
    EXPECT_EQ(0, std::memcmp(&a.obs[i].total, &b.obs[i].total, sizeof(double)));
  }
  EXPECT_EQ(a.computed, b.computed);
  EXPECT_EQ(a.no_footprint, b.no_footprint);
  EXPECT_EQ(a.outside_period, b.outside_period);
  EXPECT_EQ(a.truncated, b.truncated);
}

class PackedEqualsSource : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(PackedEqualsSource, ForwardBitForBitAndAdjointToRounding) {
  const TempDir dir("packed");
  const Case c = make_case(GetParam(), 6, 3, 24, {5, 7});
  PackSummary summary;
  const PackedOperator op(pack(c, dir.path(), &summary));
  EXPECT_EQ(summary.files, c.files.size());
  EXPECT_EQ(op.grid(), c.grid);
  EXPECT_EQ(op.nonzeros(), summary.nonzeros);
  std::uint64_t nnz = 0;
  for (const auto& f : c.files)
    for (const auto& o : f.obs)
      if (const auto it = c.source.files.at(f.path.string()).find(o.key);
          it != c.source.files.at(f.path.string()).end())
        nnz += it->second.nonzeros();
  EXPECT_EQ(summary.nonzeros, nnz);
  for (const bool truncate : {false, true}) {
    OperatorOptions opt;
    opt.truncate = truncate;
    const ForwardResult want = FootprintOperator(c.source).forward(c.flux, c.files, opt, threads(1));
    for (const int n : {1, 3})
      expect_same_forward(op.forward(c.flux, c.files, opt, threads(n)), want);

    const AdjointResult a_src = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, opt, threads(1));
    const AdjointResult a1 = op.adjoint(c.axis, c.grid, c.files, opt, threads(1));
    double scale = 0.0;
    for (const double v : a_src.field)
      scale = std::max(scale, std::abs(v));
    ASSERT_EQ(a1.field.size(), a_src.field.size());
    for (std::size_t k = 0; k < a1.field.size(); ++k)
      EXPECT_LE(std::abs(a1.field[k] - a_src.field[k]), 1e-12 * scale) << k;
    EXPECT_EQ(a1.computed, a_src.computed);
    EXPECT_EQ(a1.no_footprint, a_src.no_footprint);
    EXPECT_EQ(a1.outside_period, a_src.outside_period);
    EXPECT_EQ(a1.truncated, a_src.truncated);
    for (const int n : {2, 5}) {
      const AdjointResult an = op.adjoint(c.axis, c.grid, c.files, opt, threads(n));
      EXPECT_EQ(0, std::memcmp(an.field.data(), a1.field.data(), a1.field.size() * sizeof(double))) << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, PackedEqualsSource, ::testing::Values(1, 2, 3, 17));

TEST(Packed, AdjointTestBelowOneEMinus12) {
  const TempDir dir("packed");
  const Case c = make_case(5, 5, 2, 24, {6, 4});
  const PackedOperator op(pack(c, dir.path()));
  const AdjointTestResult t = op.adjoint_test(c.axis, c.grid, 2, c.files, {}, threads(2), 7);
  EXPECT_GT(t.observations, 0u);
  EXPECT_LT(std::abs(t.value), 1e-12);
  EXPECT_EQ(t.value, adjoint_test_value(t.hx_y, t.x_hty));
}

TEST(Packed, TimeStepsAreMatchedOnTheRunsAxisAsFromFiles) {
  // The packed steps are the footprints' own intervals: a run on a shorter, shifted or coarser axis matches
  // (or does not) exactly as the operator on the files does.
  const TempDir dir("packed");
  const Case c = make_case(11, 4, 1, 24, {5, 7});
  const PackedOperator op(pack(c, dir.path()));
  std::mt19937_64 rng(3);
  for (const TimeAxis& axis : {TimeAxis::regular(kT0 + 6 * kHour, kT0 + 60 * kHour, 3 * kHour),
                               TimeAxis::regular(kT0, kT0 + 72 * kHour, 6 * kHour)}) {
    const FluxFile flux = make_flux(axis, c.grid, 1, rng);
    for (const bool truncate : {false, true}) {
      OperatorOptions opt;
      opt.truncate = truncate;
      expect_same_forward(op.forward(flux, c.files, opt, threads(2)),
                          FootprintOperator(c.source).forward(flux, c.files, opt, threads(1)));
      const AdjointResult a = op.adjoint(axis, c.grid, c.files, opt, threads(2));
      const AdjointResult b = FootprintOperator(c.source).adjoint(axis, c.grid, c.files, opt, threads(1));
      EXPECT_EQ(a.computed, b.computed);
      EXPECT_EQ(a.outside_period, b.outside_period);
      for (std::size_t k = 0; k < a.field.size(); ++k)
        EXPECT_NEAR(a.field[k], b.field[k], 1e-12 * (1 + std::abs(b.field[k])));
    }
  }
}

TEST(Packed, RepeatedRowsAndKeysResolvedFromTimes) {
  const TempDir dir("packed");
  Case c = make_case(21, 2, 1, 24, {5, 7});
  c.files[0].obs.push_back(c.files[0].obs[1]);  // the same footprint twice (two db rows)
  c.files[0].obs.back().row = c.nrows++;
  PackSummary s;
  const PackedOperator op(pack(c, dir.path(), &s));
  EXPECT_EQ(s.observations, c.files[0].obs.size() - 1 + c.files[1].obs.size());
  expect_same_forward(op.forward(c.flux, c.files, {}, threads(1)),
                      FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)));
  const AdjointResult a = op.adjoint(c.axis, c.grid, c.files, {}, threads(1));
  const AdjointResult b = FootprintOperator(c.source).adjoint(c.axis, c.grid, c.files, {}, threads(1));
  for (std::size_t k = 0; k < a.field.size(); ++k)
    EXPECT_NEAR(a.field[k], b.field[k], 1e-12 * (1 + std::abs(b.field[k])));

  // By time: an empty key is the footprint of the observation time (MemoryFootprintSource: %Y%m%d%H%M%S).
  Case t = make_case(22, 1, 1, 24, {5, 7});
  for (auto& o : t.files[0].obs) {
    const std::string key = o.key;
    o.key.clear();
    o.time = kT0 + static_cast<std::int64_t>(o.row) * kHour;
    auto& store = t.source.files.at(t.files[0].path.string());
    if (const auto it = store.find(key); it != store.end()) {
      Footprint fp = it->second;
      store.erase(it);
      store.emplace(legacy_key(o.time), std::move(fp));
    }
  }
  const PackedOperator by_time(pack(t, dir.path() / "t"));
  expect_same_forward(by_time.forward(t.flux, t.files, {}, threads(1)),
                      FootprintOperator(t.source).forward(t.flux, t.files, {}, threads(1)));
}

TEST(Packed, LargerFootprintGridIsMappedAtPackingTime) {
  const TempDir dir("packed");
  Case c = make_case(31, 2, 1, 24, {5, 7});
  for (auto& [path, store] : c.source.files) {
    // The files state a grid with 2 more rows south and 1 more column west: indices shift by (2, 1).
    FootprintGrid g;
    for (int i = -2; i < 5; ++i)
      g.lats.push_back(40.25 + 0.5 * i);
    for (int j = -1; j < 7; ++j)
      g.lons.push_back(-10.25 + 0.5 * j);
    c.source.grids[path] = g;
    for (auto& [key, fp] : store)
      for (auto& s : fp.slices)
        for (std::size_t k = 0; k < s.resp.size(); ++k) {
          s.ilat[k] += 2;
          s.ilon[k] += 1;
        }
    store.begin()->second.slices.front().ilat.push_back(0);  // a cell outside the flux grid
    store.begin()->second.slices.front().ilon.push_back(0);
    store.begin()->second.slices.front().resp.push_back(5.0f);
  }
  PackSummary s;
  const PackedOperator op(pack(c, dir.path(), &s));
  EXPECT_EQ(s.outside_domain, 2u);
  const ForwardResult a = op.forward(c.flux, c.files, {}, threads(1));
  expect_same_forward(a, FootprintOperator(c.source).forward(c.flux, c.files, {}, threads(1)));
  EXPECT_EQ(a.outside_domain, 2u);
}

// ---- bad input --------------------------------------------------------------------------------------------

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(PackedErrors, ObservationOrFileNotPacked) {
  const TempDir dir("packed");
  Case c = make_case(41, 2, 1, 24, {5, 7});
  const PackedOperator op(pack(c, dir.path()));
  Case more = c;
  more.files[1].obs.push_back(ObsTask{99, 0, "20180109999999", 0.0});
  std::string e = error_of([&] { (void)op.forward(more.flux, more.files, {}, threads(1)); });
  EXPECT_NE(e.find("observation at row 99 (key '20180109999999' in footprint file 'fp/site1.h5') is not in "
                   "the packed operator: re-run `fluxkit transport pack`"),
            std::string::npos)
      << e;
  more = c;
  more.files.push_back(FileTask{"fp/other.h5", {ObsTask{100, 0, "x", 0.0}}, 0});
  e = error_of([&] { (void)op.adjoint(more.axis, more.grid, more.files, {}, threads(1)); });
  EXPECT_NE(e.find("footprint file 'fp/other.h5' is not in the packed operator"), std::string::npos) << e;
}

TEST(PackedErrors, GridOfTheRunMustBeThePackedGrid) {
  const TempDir dir("packed");
  const Case c = make_case(42, 2, 1, 24, {5, 7});
  const PackedOperator op(pack(c, dir.path()));
  std::string e = error_of([&] { (void)op.adjoint(c.axis, GridShape{5, 8}, c.files, {}, threads(1)); });
  EXPECT_NE(e.find("mismatched grids: the packed operator is on a 5 x 7 grid"), std::string::npos) << e;
  OperatorOptions shifted = grid_options(c);
  for (auto& v : shifted.lats)
    v += 0.5;
  e = error_of([&] { (void)op.adjoint(c.axis, c.grid, c.files, shifted, threads(1)); });
  EXPECT_NE(e.find("mismatched grids"), std::string::npos) << e;
  std::mt19937_64 rng(1);
  const FluxFile other = make_flux(c.axis, GridShape{4, 7}, 1, rng);
  e = error_of([&] { (void)op.forward(other, c.files, {}, threads(1)); });
  EXPECT_NE(e.find("the run on a 4 x 7 grid"), std::string::npos) << e;
}

void corrupt_at(const fs::path& p, std::size_t offset, const void* bytes, std::size_t n) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(n));
}

TEST(PackedErrors, TruncatedCorruptOrNewerFiles) {
  const TempDir dir("packed");
  const Case c = make_case(43, 3, 1, 24, {5, 7});
  const fs::path good = pack(c, dir.path());
  const auto copy = [&](const char* name) {
    const fs::path p = dir.path() / name;
    fs::copy_file(good, p, fs::copy_options::overwrite_existing);
    return p;
  };
  std::string e = error_of([&] { PackedOperator op(dir.path() / "missing.fkop"); });
  EXPECT_NE(e.find("missing.fkop: cannot open the packed operator"), std::string::npos) << e;

  const fs::path truncated = copy("truncated.fkop");
  fs::resize_file(truncated, fs::file_size(good) - 8);
  e = error_of([&] { PackedOperator op(truncated); });
  EXPECT_NE(e.find("truncated.fkop: corrupt packed operator"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  const fs::path text = dir.path() / "text.fkop";
  std::ofstream(text) << std::string(600, 'x');
  e = error_of([&] { PackedOperator op(text); });
  EXPECT_NE(e.find("not a packed operator"), std::string::npos) << e;

  const fs::path newer = copy("newer.fkop");
  const std::uint32_t version = PackedOperator::kVersion + 1;
  corrupt_at(newer, 16, &version, sizeof version);
  e = error_of([&] { PackedOperator op(newer); });
  EXPECT_NE(e.find("format version 2 is newer than this fluxkit reads (1)"), std::string::npos) << e;

  // Non-zeros whose cells lie outside the grid (the non-zeros start at byte 512, 8 bytes each).
  const fs::path bad_cell = copy("cell.fkop");
  const std::uint32_t cell = 5 * 7 + 3;
  const std::uint64_t nnz = PackedOperator(good).nonzeros();
  for (std::uint64_t k = 0; k < nnz; ++k)
    corrupt_at(bad_cell, 512 + 8 * k, &cell, sizeof cell);
  const PackedOperator op(bad_cell);
  e = error_of([&] { (void)op.forward(c.flux, c.files, {}, threads(1)); });
  EXPECT_NE(e.find("cell.fkop: corrupt packed operator: non-zero "), std::string::npos) << e;
  EXPECT_NE(e.find("has cell 38 outside the 5 x 7 grid"), std::string::npos) << e;
  OperatorOptions truncate;
  truncate.truncate = true;
  e = error_of([&] { (void)op.adjoint(c.axis, c.grid, c.files, truncate, threads(2)); });
  EXPECT_NE(e.find("outside the 5 x 7 grid"), std::string::npos) << e;
}

TEST(PackedErrors, FootprintFileChangedSincePacking) {
  const TempDir dir("packed");
  Case c = make_case(44, 2, 1, 24, {5, 7});
  // Point the tasks at real files so that their size and modification time are recorded.
  MemoryFootprintSource source;
  for (auto& f : c.files) {
    const fs::path real = dir.path() / f.path.filename();
    std::ofstream(real) << "footprints";
    source.files[real.string()] = c.source.files.at(f.path.string());
    f.path = real;
  }
  c.source = source;
  const PackedOperator op(pack(c, dir.path()));
  EXPECT_EQ(op.check_sources(), 0u);
  fs::remove(c.files[0].path);
  EXPECT_EQ(op.check_sources(), 1u);  // gone: the packed operator does not need it
  std::ofstream(c.files[1].path, std::ios::app) << "more";
  const std::string e = error_of([&] { (void)op.check_sources(); });
  EXPECT_NE(
      e.find("footprint file '" + c.files[1].path.string() + "' changed since it was packed (10 -> 14 bytes"),
      std::string::npos)
      << e;
}

TEST(PackedErrors, NaNDepartureAndFailedPackLeavesNoFile) {
  const TempDir dir("packed");
  Case c = make_case(45, 2, 1, 24, {5, 7});
  // An index outside the grid: the pack fails naming the file, and writes nothing.
  Case bad = c;
  auto& store = bad.source.files.at(bad.files[1].path.string());
  for (auto& [key, fp] : store)
    for (auto& s : fp.slices)
      if (!s.ilat.empty()) s.ilat[0] = 50;
  const std::string e = error_of([&] { (void)pack(bad, dir.path()); });
  EXPECT_NE(e.find("fp/site1.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("outside the 5 x 7 flux grid"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path() / "operator.fkop"));
  for (const auto& entry : fs::directory_iterator(dir.path()))
    ADD_FAILURE() << "left behind: " << entry.path();

  // A NaN departure of an observation that contributes fails the adjoint, naming it.
  const PackedOperator op(pack(c, dir.path()));
  const ForwardResult fwd = op.forward(c.flux, c.files, {}, threads(1));
  std::size_t i = 0;
  ObsTask* contributing = nullptr;
  for (auto& f : c.files)
    for (auto& o : f.obs)
      if (fwd.obs[i++].status == ObsStatus::Computed && contributing == nullptr) contributing = &o;
  ASSERT_NE(contributing, nullptr);
  contributing->dy = std::numeric_limits<double>::quiet_NaN();
  const std::string nan = error_of([&] { (void)op.adjoint(c.axis, c.grid, c.files, {}, threads(1)); });
  EXPECT_NE(
      nan.find(fmt::format("observation '{}' (row {}): dy is NaN", contributing->key, contributing->row)),
      std::string::npos)
      << nan;
}

}  // namespace
}  // namespace fluxkit::transport
