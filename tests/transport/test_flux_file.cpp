// Tests for the LUMIA flux file (fluxkit::transport::FluxFile, spec transport.md §4): epoch conversions,
// round trips with and without area_m2, the layout on disk (read back with the netCDF-C API), errors naming
// file, group and variable, and the atomicity of writes.
#include "fluxkit/transport/flux_file.hpp"

#include <gtest/gtest.h>

#include <netcdf.h>
#include <unistd.h>
#include "common/temp_dir.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit::transport {
namespace {

namespace fs = std::filesystem;

struct TempDir : fluxkit::testing::TempDir {
  TempDir() : fluxkit::testing::TempDir("fluxkit_test_flux") {}
};

// Expects a FileError whose message contains every string in `parts`.
template <class F>
void expect_file_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no FileError thrown";
  } catch (const FileError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

FluxCategory make_category(const std::string& name, std::size_t nt, std::size_t nlat, std::size_t nlon,
                           double seed, bool area) {
  FluxCategory c;
  c.name = name;
  c.nt = nt;
  c.nlat = nlat;
  c.nlon = nlon;
  c.emis.resize(nt * nlat * nlon);
  for (std::size_t k = 0; k < c.emis.size(); ++k)
    c.emis[k] = seed + 0.001 * static_cast<double>(k) - 1.0 / 3.0;
  const std::int64_t t0 = fluxkit::cftime::civil_to_epoch_seconds({2018, 1, 1, 0, 0, 0});
  for (std::size_t t = 0; t < nt; ++t) {
    c.times_start.push_back(
        fluxkit::cftime::epoch_seconds_to_civil(t0 + static_cast<std::int64_t>(t) * 10800));
    c.times_end.push_back(
        fluxkit::cftime::epoch_seconds_to_civil(t0 + static_cast<std::int64_t>(t + 1) * 10800));
  }
  for (std::size_t i = 0; i < nlat; ++i)
    c.lats.push_back(33.25f + 0.5f * static_cast<float>(i));
  for (std::size_t j = 0; j < nlon; ++j)
    c.lons.push_back(-14.75f + 0.5f * static_cast<float>(j));
  if (area)
    for (std::size_t k = 0; k < nlat * nlon; ++k)
      c.area_m2.push_back(2.5e9 + static_cast<double>(k));
  return c;
}

TEST(FluxTime, EpochConversions) {
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({1970, 1, 1, 0, 0, 0}), 0);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({1969, 12, 31, 23, 59, 59}), -1);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({2000, 3, 1, 0, 0, 0}), 951868800);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({2016, 2, 29, 12, 30, 15}), 1456749015);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({2017, 1, 31, 14, 0, 0}), 1485871200);
  EXPECT_EQ(fluxkit::cftime::civil_to_epoch_seconds({1600, 1, 1, 0, 0, 0}), -11676096000);
  EXPECT_EQ(fluxkit::cftime::epoch_seconds_to_civil(-1), (TimeStamp{1969, 12, 31, 23, 59, 59}));
  EXPECT_EQ(fluxkit::cftime::epoch_seconds_to_civil(951782400), (TimeStamp{2000, 2, 29, 0, 0, 0}));
  EXPECT_EQ(fluxkit::cftime::epoch_seconds_to_civil(4107542400),
            (TimeStamp{2100, 3, 1, 0, 0, 0}));  // 2100 is not a leap year
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> dist(-20000000000LL, 20000000000LL);
  for (int k = 0; k < 100000; ++k) {
    const std::int64_t s = dist(rng);
    ASSERT_EQ(fluxkit::cftime::civil_to_epoch_seconds(fluxkit::cftime::epoch_seconds_to_civil(s)), s);
  }
}

TEST(FluxFile, RoundTripWithAndWithoutArea) {
  TempDir dir;
  FluxFile f;
  f.categories.push_back(make_category("biosphere", 5, 3, 4, 1.0, false));
  f.categories.push_back(make_category("fossil", 5, 3, 4, 2.0, true));
  f.categories[1].times_end[4] = {2018, 1, 1, 16, 0, 0};  // non-uniform steps are allowed
  const auto path = dir / "sub" / "emis.nc";
  f.write(path);
  EXPECT_EQ(dir.count(), 1u);  // only "sub": no temp file left behind

  const FluxFile g = FluxFile::read(path);
  ASSERT_EQ(g.categories.size(), 2u);
  for (const auto& want : f.categories) {
    const FluxCategory* got = g.find(want.name);
    ASSERT_NE(got, nullptr) << want.name;
    EXPECT_EQ(got->nt, want.nt);
    EXPECT_EQ(got->nlat, want.nlat);
    EXPECT_EQ(got->nlon, want.nlon);
    EXPECT_EQ(got->emis, want.emis);
    EXPECT_EQ(got->times_start, want.times_start);
    EXPECT_EQ(got->times_end, want.times_end);
    EXPECT_EQ(got->lats, want.lats);
    EXPECT_EQ(got->lons, want.lons);
    EXPECT_EQ(got->area_m2, want.area_m2);
  }
  EXPECT_TRUE(g.find("biosphere")->area_m2.empty());
  EXPECT_DOUBLE_EQ(g.find("fossil")->at(4, 2, 3), f.categories[1].at(4, 2, 3));
  EXPECT_EQ(&g.require("fossil", path), g.find("fossil"));
  EXPECT_EQ(g.find("ocean"), nullptr);
  expect_file_error([&] { (void)g.require("ocean", path); }, {path.string(), "ocean", "biosphere, fossil"});
}

TEST(FluxFile, LayoutOnDisk) {
  TempDir dir;
  FluxFile f;
  f.categories.push_back(make_category("biosphere", 2, 3, 4, 1.0, true));
  const auto path = dir / "emis.nc";
  Provenance p;
  p.software = "fluxkit test";
  p.creation_date = "2024-01-01T00:00:00Z";
  p.command_line = "test";
  f.write(path, p);

  int nc = -1, grp = -1, var = -1, fmt = 0;
  ASSERT_EQ(nc_open(path.c_str(), NC_NOWRITE, &nc), NC_NOERR);
  ASSERT_EQ(nc_inq_format(nc, &fmt), NC_NOERR);
  EXPECT_EQ(fmt, NC_FORMAT_NETCDF4);
  int dim = -1;
  std::size_t len = 0;
  ASSERT_EQ(nc_inq_dimid(nc, "time_components", &dim), NC_NOERR);
  ASSERT_EQ(nc_inq_dimlen(nc, dim, &len), NC_NOERR);
  EXPECT_EQ(len, 6u);
  char source[64] = {0};
  ASSERT_EQ(nc_get_att_text(nc, NC_GLOBAL, "source", source), NC_NOERR);
  EXPECT_STREQ(source, "fluxkit test");
  ASSERT_EQ(nc_inq_grp_ncid(nc, "biosphere", &grp), NC_NOERR);
  const std::vector<std::pair<std::string, nc_type>> vars = {{"emis", NC_DOUBLE},   {"times_start", NC_INT},
                                                             {"times_end", NC_INT}, {"lats", NC_FLOAT},
                                                             {"lons", NC_FLOAT},    {"area_m2", NC_DOUBLE}};
  for (const auto& [name, type] : vars) {
    ASSERT_EQ(nc_inq_varid(grp, name.c_str(), &var), NC_NOERR) << name;
    nc_type t = NC_NAT;
    ASSERT_EQ(nc_inq_vartype(grp, var, &t), NC_NOERR);
    EXPECT_EQ(t, type) << name;
  }
  int dims[3];
  ASSERT_EQ(nc_inq_varid(grp, "times_start", &var), NC_NOERR);
  ASSERT_EQ(nc_inq_vardimid(grp, var, dims), NC_NOERR);
  char dname[NC_MAX_NAME + 1];
  ASSERT_EQ(nc_inq_dimname(grp, dims[0], dname), NC_NOERR);
  EXPECT_STREQ(dname, "nt");
  ASSERT_EQ(nc_inq_dimname(grp, dims[1], dname), NC_NOERR);
  EXPECT_STREQ(dname, "time_components");
  int ts[12];
  ASSERT_EQ(nc_get_var_int(grp, var, ts), NC_NOERR);
  EXPECT_EQ(std::vector<int>(ts, ts + 12), (std::vector<int>{2018, 1, 1, 0, 0, 0, 2018, 1, 1, 3, 0, 0}));
  nc_close(nc);
}

// Writes a flux file with the netCDF-C API, leaving out or reshaping variables.
struct RawGroup {
  std::string name;
  std::size_t nt = 2, nlat = 2, nlon = 3;
  bool with_lats = true;
  std::size_t times_rows = 2;  // first dimension of times_start
  int month = 1;
};

void write_raw(const fs::path& path, const std::vector<RawGroup>& groups) {
  int nc = -1, tc = -1;
  ASSERT_EQ(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &nc), NC_NOERR);
  ASSERT_EQ(nc_def_dim(nc, "time_components", 6, &tc), NC_NOERR);
  for (const auto& g : groups) {
    int grp = -1, dt = -1, dla = -1, dlo = -1, dr = -1, v = -1;
    ASSERT_EQ(nc_def_grp(nc, g.name.c_str(), &grp), NC_NOERR);
    ASSERT_EQ(nc_def_dim(grp, "nt", g.nt, &dt), NC_NOERR);
    ASSERT_EQ(nc_def_dim(grp, "nlat", g.nlat, &dla), NC_NOERR);
    ASSERT_EQ(nc_def_dim(grp, "nlon", g.nlon, &dlo), NC_NOERR);
    dr = dt;
    if (g.times_rows != g.nt) {
      ASSERT_EQ(nc_def_dim(grp, "nrows", g.times_rows, &dr), NC_NOERR);
    }
    int d3[3] = {dt, dla, dlo};
    ASSERT_EQ(nc_def_var(grp, "emis", NC_DOUBLE, 3, d3, &v), NC_NOERR);
    std::vector<double> emis(g.nt * g.nlat * g.nlon, 1.5);
    ASSERT_EQ(nc_put_var_double(grp, v, emis.data()), NC_NOERR);
    int d2[2] = {dr, tc};
    for (const char* name : {"times_start", "times_end"}) {
      ASSERT_EQ(nc_def_var(grp, name, NC_INT, 2, d2, &v), NC_NOERR);
      std::vector<int> ts;
      for (std::size_t t = 0; t < g.times_rows; ++t)
        for (int x : {2018, g.month, 1, static_cast<int>(3 * t), 0, 0})
          ts.push_back(x);
      ASSERT_EQ(nc_put_var_int(grp, v, ts.data()), NC_NOERR);
    }
    if (g.with_lats) {
      ASSERT_EQ(nc_def_var(grp, "lats", NC_FLOAT, 1, &dla, &v), NC_NOERR);
      std::vector<float> lats(g.nlat, 50.f);
      ASSERT_EQ(nc_put_var_float(grp, v, lats.data()), NC_NOERR);
    }
    ASSERT_EQ(nc_def_var(grp, "lons", NC_FLOAT, 1, &dlo, &v), NC_NOERR);
    std::vector<float> lons(g.nlon, 10.f);
    ASSERT_EQ(nc_put_var_float(grp, v, lons.data()), NC_NOERR);
  }
  ASSERT_EQ(nc_close(nc), NC_NOERR);
}

TEST(FluxFile, ReadsAFileWrittenElsewhere) {
  TempDir dir;
  const auto path = dir / "raw.nc";
  write_raw(path, {{"ocean"}, {"biosphere"}});
  const FluxFile f = FluxFile::read(path);
  ASSERT_EQ(f.categories.size(), 2u);
  const FluxCategory& c = f.require("ocean", path);
  EXPECT_EQ(c.nt, 2u);
  EXPECT_EQ(c.times_start[1], (TimeStamp{2018, 1, 1, 3, 0, 0}));
  EXPECT_EQ(c.emis, std::vector<double>(12, 1.5));
  EXPECT_TRUE(c.area_m2.empty());
}

TEST(FluxFile, ErrorsNameFileGroupAndVariable) {
  TempDir dir;
  const auto missing_var = dir / "missing_var.nc";
  RawGroup no_lats{"fossil"};
  no_lats.with_lats = false;
  write_raw(missing_var, {{"biosphere"}, no_lats});
  expect_file_error([&] { FluxFile::read(missing_var); },
                    {missing_var.string(), "fossil/lats", "missing variable"});

  const auto bad_shape = dir / "bad_shape.nc";
  RawGroup rows{"biosphere"};
  rows.times_rows = 3;
  write_raw(bad_shape, {rows});
  expect_file_error([&] { FluxFile::read(bad_shape); },
                    {bad_shape.string(), "biosphere/times_start", "(3, 6)"});

  const auto bad_time = dir / "bad_time.nc";
  RawGroup month{"biosphere"};
  month.month = 13;
  write_raw(bad_time, {month});
  expect_file_error([&] { FluxFile::read(bad_time); },
                    {bad_time.string(), "biosphere/times_start", "step 0"});

  const auto no_groups = dir / "no_groups.nc";
  write_raw(no_groups, {});
  expect_file_error([&] { FluxFile::read(no_groups); }, {no_groups.string(), "no category groups"});

  expect_file_error([&] { FluxFile::read(dir / "absent.nc"); }, {"absent.nc", "no such"});

  const auto garbage = dir / "garbage.nc";
  std::ofstream(garbage) << "this is not netCDF at all";
  expect_file_error([&] { FluxFile::read(garbage); }, {garbage.string(), "cannot open"});
}

TEST(FluxFile, InconsistentWriteLeavesTheTargetUntouched) {
  TempDir dir;
  const auto path = dir / "emis.nc";
  FluxFile good;
  good.categories.push_back(make_category("biosphere", 2, 2, 2, 1.0, false));
  good.write(path);
  const auto size = fs::file_size(path);

  FluxFile bad = good;
  bad.categories[0].emis.pop_back();
  expect_file_error([&] { bad.write(path); }, {path.string(), "biosphere/emis", "7 values, expected 8"});
  bad = good;
  bad.categories[0].lats.push_back(1.f);
  expect_file_error([&] { bad.write(path); }, {"biosphere/lats"});
  bad = good;
  bad.categories.push_back(good.categories[0]);
  expect_file_error([&] { bad.write(path); }, {"duplicate category"});
  bad = good;
  bad.categories[0].area_m2 = {1.0};
  expect_file_error([&] { bad.write(path); }, {"biosphere/area_m2"});

  EXPECT_EQ(fs::file_size(path), size);
  EXPECT_EQ(dir.count(), 1u);
  EXPECT_EQ(FluxFile::read(path).categories[0].emis, good.categories[0].emis);
}

}  // namespace
}  // namespace fluxkit::transport
