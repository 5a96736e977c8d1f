// Tests for fluxkit::nemo::File: small NEMO-style files are written with nc::Writer (a 3 x 4 grid and, unless
// a test says otherwise, 14 monthly steps) and read back: coordinates, masks, metrics, the monthly time axis,
// fields with fill values, and the error messages for malformed files.
#include "fluxkit/io/nemo.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fluxkit/core/cftime.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"

namespace fluxkit::nemo {
namespace {

namespace fs = std::filesystem;
using cftime::Calendar;
using cftime::YearMonth;

// A fresh, empty directory per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name =
        fmt::format("fluxkit_test_nemo_{}_{}_{}_{}", info ? info->test_suite_name() : "x",
                    info ? info->name() : "x", getpid(), counter_++);
    path_ = fs::temp_directory_path() / name;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Runs fn, expects a fluxkit::FileError and checks that its message contains every one of `parts`.
FileError expect_file_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const FileError& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected fluxkit::FileError, got: " << e.what();
    return FileError("", "", "");
  }
  ADD_FAILURE() << "expected fluxkit::FileError, nothing thrown";
  return FileError("", "", "");
}

constexpr std::size_t kNy = 3, kNx = 4;
constexpr const char* kUnits = "seconds since 1900-01-01 00:00:00";

// Coordinates, mask and metrics of the test grid.
double lat_2d(std::size_t j, std::size_t i) {
  return -45.0 + 30.0 * static_cast<double>(j) + 0.25 * static_cast<double>(i);
}
double lon_2d(std::size_t j, std::size_t i) {
  return -170.0 + 90.0 * static_cast<double>(i) + 0.5 * static_cast<double>(j);
}
double lat_1d(std::size_t j) {
  return -45.0 + 30.0 * static_cast<double>(j);
}
double lon_1d(std::size_t i) {
  return -170.0 + 90.0 * static_cast<double>(i);
}
std::uint8_t ocean(std::size_t j, std::size_t i) {
  return (j == 0 && i == 0) || (j == 2 && i == 1) ? 0 : 1;
}
double e1t(std::size_t j, std::size_t i) {
  return 1000.0 * static_cast<double>(j + 1) + static_cast<double>(i);
}
double e2t(std::size_t j, std::size_t i) {
  return 2000.0 + 10.0 * static_cast<double>(i) + static_cast<double>(j);
}

// Field values: 100 t + 10 j + i + 0.5; land (0, 0) is 1e20 (missing_value) at every step, (t=1, j=1, i=2) is
// the _FillValue -999 and (t=2, j=2, i=3) is NaN.
bool field_missing(std::size_t t, std::size_t j, std::size_t i) {
  return (j == 0 && i == 0) || (t == 1 && j == 1 && i == 2) || (t == 2 && j == 2 && i == 3);
}
float field_value(std::size_t t, std::size_t j, std::size_t i) {
  if (j == 0 && i == 0) return 1e20f;
  if (t == 1 && j == 1 && i == 2) return -999.0f;
  if (t == 2 && j == 2 && i == 3) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(100 * t + 10 * j + i) + 0.5f;
}

enum class Coords { NavLatLon2D, LatLon1D, LatitudeLongitude1D };
enum class Mask { None, YX, TZYX };
enum class Metrics { None, Both, Both3D, E1tOnly, E2tOnly };

struct Spec {
  Coords coords = Coords::NavLatLon2D;
  Mask mask = Mask::None;
  Metrics metrics = Metrics::None;
  int nt = 14;
  YearMonth first{1958, 1};
  std::optional<std::string> calendar = "noleap";  // nullopt: no calendar attribute
  std::optional<std::string> units = kUnits;       // nullopt: no units attribute
  std::string time_dim = "time_counter";
  std::vector<double> time_values;  // empty: mid-month stamps of `first`, `nt` months
  double lat_shift = 0;             // added to every latitude
  bool flip_mask_cell = false;      // makes cell (1, 1) land
  bool bad_fields = false;          // adds fields with dimensions (y, x, time) and (time, x, y)
};

std::string y_dim(const Spec& s) {
  return s.coords == Coords::NavLatLon2D ? "y" : "lat";
}
std::string x_dim(const Spec& s) {
  return s.coords == Coords::NavLatLon2D ? "x" : "lon";
}

std::vector<double> time_values(const Spec& s) {
  if (!s.time_values.empty()) return s.time_values;
  const auto u = cftime::parse_units(kUnits, s.calendar.value_or(""));
  return cftime::MonthlyAxis{s.first, s.nt}.mid_month_offsets(u);
}

// Writes a NEMO-style file: an unlimited time axis, coordinates, optional mask and metrics, and the field
// "sst" (time, y, x) with _FillValue -999 and missing_value 1e20.
void write_nemo(const fs::path& path, const Spec& s) {
  nc::Writer w(path);
  const std::string yd = y_dim(s), xd = x_dim(s), td = s.time_dim;
  const std::vector<double> times = time_values(s);
  const std::size_t nt = times.size();
  w.add_dim(td, NC_UNLIMITED);
  w.add_dim(yd, kNy);
  w.add_dim(xd, kNx);

  std::vector<double> lat1(kNy), lon1(kNx);
  std::vector<float> lat2(kNy * kNx), lon2(kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    lat1[j] = lat_1d(j) + s.lat_shift;
  for (std::size_t i = 0; i < kNx; ++i)
    lon1[i] = lon_1d(i);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      lat2[j * kNx + i] = static_cast<float>(lat_2d(j, i) + s.lat_shift);
      lon2[j * kNx + i] = static_cast<float>(lon_2d(j, i));
    }
  std::string lat_name = "nav_lat", lon_name = "nav_lon";
  if (s.coords == Coords::NavLatLon2D) {
    w.add_var(lat_name, NC_FLOAT, {yd, xd});
    w.add_var(lon_name, NC_FLOAT, {yd, xd});
  } else {
    lat_name = s.coords == Coords::LatLon1D ? "lat" : "latitude";
    lon_name = s.coords == Coords::LatLon1D ? "lon" : "longitude";
    w.add_var(lat_name, NC_DOUBLE, {yd});
    w.add_var(lon_name, NC_DOUBLE, {xd});
  }
  w.put_att(lat_name, "units", "degrees_north");
  w.put_att(lon_name, "units", "degrees_east");

  w.add_var(td, NC_DOUBLE, {td});
  if (s.units) w.put_att(td, "units", *s.units);
  if (s.calendar) w.put_att(td, "calendar", *s.calendar);

  std::vector<std::int8_t> mask(kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i)
      mask[j * kNx + i] = static_cast<std::int8_t>(s.flip_mask_cell && j == 1 && i == 1 ? 0 : ocean(j, i));
  constexpr std::size_t kNz = 3;
  if (s.mask == Mask::YX) w.add_var("tmask", NC_BYTE, {yd, xd});
  if (s.mask == Mask::TZYX || s.metrics == Metrics::Both3D) {
    w.add_dim("t", 1);
    w.add_dim("z", kNz);
  }
  if (s.mask == Mask::TZYX) w.add_var("tmask", NC_BYTE, {"t", "z", yd, xd});

  std::vector<double> e1(kNy * kNx), e2(kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      e1[j * kNx + i] = e1t(j, i);
      e2[j * kNx + i] = e2t(j, i);
    }
  const std::vector<std::string> metric_dims =
      s.metrics == Metrics::Both3D ? std::vector<std::string>{"t", yd, xd} : std::vector<std::string>{yd, xd};
  const bool has_e1 =
      s.metrics == Metrics::Both || s.metrics == Metrics::Both3D || s.metrics == Metrics::E1tOnly;
  const bool has_e2 =
      s.metrics == Metrics::Both || s.metrics == Metrics::Both3D || s.metrics == Metrics::E2tOnly;
  if (has_e1) w.add_var("e1t", NC_DOUBLE, metric_dims);
  if (has_e2) w.add_var("e2t", NC_DOUBLE, metric_dims);

  w.add_var("sst", NC_FLOAT, {td, yd, xd});
  w.put_att("sst", "_FillValue", -999.0f);
  w.put_att("sst", "missing_value", 1e20f);
  w.put_att("sst", "units", "degC");
  if (s.bad_fields) {
    w.add_var("sst_yxt", NC_FLOAT, {yd, xd, td});
    w.add_var("sst_txy", NC_FLOAT, {td, xd, yd});
  }

  // Data.
  if (s.coords == Coords::NavLatLon2D) {
    w.write(lat_name, std::span<const float>(lat2));
    w.write(lon_name, std::span<const float>(lon2));
  } else {
    w.write(lat_name, std::span<const double>(lat1));
    w.write(lon_name, std::span<const double>(lon1));
  }
  {
    const std::array<std::size_t, 1> start = {0}, count = {nt};
    w.write(td, std::span<const double>(times), start, count);
  }
  if (s.mask == Mask::YX) w.write("tmask", std::span<const std::int8_t>(mask));
  if (s.mask == Mask::TZYX) {
    // Surface level: the mask; deeper levels: all land, so using any other level would show.
    std::vector<std::int8_t> mask4(kNz * kNy * kNx, 0);
    std::copy(mask.begin(), mask.end(), mask4.begin());
    w.write("tmask", std::span<const std::int8_t>(mask4));
  }
  if (has_e1) w.write("e1t", std::span<const double>(e1));
  if (has_e2) w.write("e2t", std::span<const double>(e2));

  std::vector<float> field(nt * kNy * kNx);
  for (std::size_t t = 0; t < nt; ++t)
    for (std::size_t j = 0; j < kNy; ++j)
      for (std::size_t i = 0; i < kNx; ++i)
        field[(t * kNy + j) * kNx + i] = field_value(t, j, i);
  const std::array<std::size_t, 3> start = {0, 0, 0}, count = {nt, kNy, kNx};
  w.write("sst", std::span<const float>(field), start, count);
  if (s.bad_fields) {
    const std::vector<float> zeros(nt * kNy * kNx, 0.0f);
    const std::array<std::size_t, 3> c_yxt = {kNy, kNx, nt}, c_txy = {nt, kNx, kNy};
    w.write("sst_yxt", std::span<const float>(zeros), start, c_yxt);
    w.write("sst_txy", std::span<const float>(zeros), start, c_txy);
  }
  w.commit();
}

fs::path make(const TempDir& dir, const Spec& s, const std::string& name = "ORCA.hind_1958.nc") {
  const fs::path p = dir / name;
  write_nemo(p, s);
  return p;
}

// ---- grid
// ---------------------------------------------------------------------------------------------------

TEST(NemoGrid, TwoDimensionalNavLatNavLon) {
  TempDir dir;
  const fs::path p = make(dir, {});
  const File f(p);
  EXPECT_EQ(f.path(), p.string());
  const Grid& g = f.grid();
  EXPECT_EQ(g.ny, kNy);
  EXPECT_EQ(g.nx, kNx);
  EXPECT_EQ(g.size(), kNy * kNx);
  EXPECT_EQ(g.y_dim, "y");
  EXPECT_EQ(g.x_dim, "x");
  ASSERT_EQ(g.lat.size(), kNy * kNx);
  ASSERT_EQ(g.lon.size(), kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      // nav_lat/nav_lon are float in the file: the float values, widened.
      EXPECT_EQ(g.lat[j * kNx + i], static_cast<double>(static_cast<float>(lat_2d(j, i)))) << j << "," << i;
      EXPECT_EQ(g.lon[j * kNx + i], static_cast<double>(static_cast<float>(lon_2d(j, i)))) << j << "," << i;
    }
  EXPECT_TRUE(f.netcdf().has_var("sst"));
}

TEST(NemoGrid, OneDimensionalLatLonAreBroadcast) {
  TempDir dir;
  for (Coords c : {Coords::LatLon1D, Coords::LatitudeLongitude1D}) {
    Spec s;
    s.coords = c;
    const File f(make(dir, s, c == Coords::LatLon1D ? "latlon.nc" : "latitude_longitude.nc"));
    const Grid& g = f.grid();
    EXPECT_EQ(g.ny, kNy);
    EXPECT_EQ(g.nx, kNx);
    EXPECT_EQ(g.y_dim, "lat");
    EXPECT_EQ(g.x_dim, "lon");
    ASSERT_EQ(g.lat.size(), kNy * kNx);
    ASSERT_EQ(g.lon.size(), kNy * kNx);
    for (std::size_t j = 0; j < kNy; ++j)
      for (std::size_t i = 0; i < kNx; ++i) {
        EXPECT_EQ(g.lat[j * kNx + i], lat_1d(j)) << j << "," << i;
        EXPECT_EQ(g.lon[j * kNx + i], lon_1d(i)) << j << "," << i;
      }
    // Fields are (time, lat, lon) here.
    const auto v = f.read_month("sst", 3);
    EXPECT_EQ(v[1 * kNx + 2], field_value(3, 1, 2));
  }
}

TEST(NemoGrid, AbsentTmaskMeansAllOcean) {
  TempDir dir;
  const File f(make(dir, {}));
  EXPECT_FALSE(f.grid().has_tmask);
  EXPECT_EQ(f.grid().tmask, std::vector<std::uint8_t>(kNy * kNx, 1));
}

TEST(NemoGrid, TmaskYX) {
  TempDir dir;
  Spec s;
  s.mask = Mask::YX;
  const File f(make(dir, s));
  const Grid& g = f.grid();
  EXPECT_TRUE(g.has_tmask);
  ASSERT_EQ(g.tmask.size(), kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i)
      EXPECT_EQ(g.tmask[j * kNx + i], ocean(j, i)) << j << "," << i;
}

TEST(NemoGrid, FourDimensionalTmaskUsesTheSurfaceLevel) {
  TempDir dir;
  Spec s;
  s.mask = Mask::TZYX;
  s.metrics = Metrics::Both3D;  // mesh_mask style e1t(t, y, x), e2t(t, y, x)
  const File f(make(dir, s));
  const Grid& g = f.grid();
  EXPECT_TRUE(g.has_tmask);
  ASSERT_EQ(g.tmask.size(), kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i)
      EXPECT_EQ(g.tmask[j * kNx + i], ocean(j, i)) << j << "," << i;
  ASSERT_TRUE(g.has_metrics());
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      EXPECT_EQ(g.e1t[j * kNx + i], e1t(j, i));
      EXPECT_EQ(g.e2t[j * kNx + i], e2t(j, i));
    }
}

TEST(NemoGrid, TmaskWithDimensionsNotEndingInTheGridIsAnError) {
  TempDir dir;
  const fs::path q = dir / "bad_tmask.nc";
  {
    nc::Writer w(q);
    w.add_dim("time_counter", 1);
    w.add_dim("y", kNy);
    w.add_dim("x", kNx);
    w.add_var("nav_lat", NC_DOUBLE, {"y", "x"});
    w.add_var("nav_lon", NC_DOUBLE, {"y", "x"});
    w.add_var("time_counter", NC_DOUBLE, {"time_counter"});
    w.put_att("time_counter", "units", kUnits);
    w.add_var("tmask", NC_BYTE, {"x", "y"});
    const std::vector<double> zeros(kNy * kNx, 0.0);
    w.write("nav_lat", std::span<const double>(zeros));
    w.write("nav_lon", std::span<const double>(zeros));
    const double t0 = 0.0;
    w.write("time_counter", std::span<const double>(&t0, 1));
    const std::vector<std::int8_t> m(kNy * kNx, 1);
    w.write("tmask", std::span<const std::int8_t>(m));
    w.commit();
  }
  expect_file_error([&] { File f(q); }, {q.string(), "'tmask'", "(x, y)", "(y, x)"});
}

TEST(NemoGrid, MetricsAndArea) {
  TempDir dir;
  Spec s;
  s.metrics = Metrics::Both;
  const File f(make(dir, s));
  const Grid& g = f.grid();
  ASSERT_TRUE(g.has_metrics());
  ASSERT_EQ(g.e1t.size(), kNy * kNx);
  ASSERT_EQ(g.e2t.size(), kNy * kNx);
  const auto area = g.area();
  ASSERT_EQ(area.size(), kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      EXPECT_EQ(g.e1t[j * kNx + i], e1t(j, i));
      EXPECT_EQ(g.e2t[j * kNx + i], e2t(j, i));
      EXPECT_EQ(area[j * kNx + i], e1t(j, i) * e2t(j, i));
    }
}

TEST(NemoGrid, NoMetricsMeansNoArea) {
  TempDir dir;
  const File f(make(dir, {}));
  EXPECT_FALSE(f.grid().has_metrics());
  EXPECT_TRUE(f.grid().e1t.empty());
  EXPECT_TRUE(f.grid().e2t.empty());
  EXPECT_THROW((void)f.grid().area(), Error);
}

TEST(NemoGrid, E1tWithoutE2tIsAnErrorNamingE2t) {
  TempDir dir;
  Spec s;
  s.metrics = Metrics::E1tOnly;
  const fs::path p = make(dir, s, "e1t_only.nc");
  const FileError e = expect_file_error([&] { File f(p); }, {p.string(), "'e2t'", "missing"});
  EXPECT_EQ(e.variable(), "e2t");

  s.metrics = Metrics::E2tOnly;
  const fs::path q = make(dir, s, "e2t_only.nc");
  const FileError e2 = expect_file_error([&] { File f(q); }, {q.string(), "'e1t'", "missing"});
  EXPECT_EQ(e2.variable(), "e1t");
}

TEST(NemoGrid, SameAs) {
  TempDir dir;
  Spec s;
  s.mask = Mask::YX;
  const File a(make(dir, s, "a.nc"));
  const File b(make(dir, s, "b.nc"));
  EXPECT_TRUE(a.grid().same_as(b.grid()));
  EXPECT_TRUE(b.grid().same_as(a.grid()));
  EXPECT_TRUE(a.grid().same_as(a.grid()));

  Spec shifted = s;
  shifted.lat_shift = 1e-3;
  EXPECT_FALSE(a.grid().same_as(File(make(dir, shifted, "shifted.nc")).grid()));

  Spec other_mask = s;
  other_mask.flip_mask_cell = true;
  EXPECT_FALSE(a.grid().same_as(File(make(dir, other_mask, "mask.nc")).grid()));

  Spec no_mask = s;
  no_mask.mask = Mask::None;
  EXPECT_FALSE(a.grid().same_as(File(make(dir, no_mask, "nomask.nc")).grid()));

  // Coordinates are compared to 1e-6 degrees (1-D double coordinates keep the shifts exactly).
  Spec one_d;
  one_d.coords = Coords::LatLon1D;
  const File c(make(dir, one_d, "1d.nc"));
  Spec tiny_shift = one_d;
  tiny_shift.lat_shift = 1e-8;
  EXPECT_TRUE(c.grid().same_as(File(make(dir, tiny_shift, "1d_tiny.nc")).grid()));
  Spec small_shift = one_d;
  small_shift.lat_shift = 1e-5;
  EXPECT_FALSE(c.grid().same_as(File(make(dir, small_shift, "1d_small.nc")).grid()));

  // Different shapes.
  Grid small = a.grid();
  small.nx = kNx - 1;
  EXPECT_FALSE(a.grid().same_as(small));
  EXPECT_FALSE(small.same_as(a.grid()));
}

TEST(NemoGrid, MissingCoordinatesAreAnError) {
  TempDir dir;
  const fs::path p = dir / "nocoords.nc";
  {
    nc::Writer w(p);
    w.add_dim("time_counter", 1);
    w.add_dim("y", kNy);
    w.add_dim("x", kNx);
    w.add_var("time_counter", NC_DOUBLE, {"time_counter"});
    w.put_att("time_counter", "units", kUnits);
    const double t0 = 0.0;
    w.write("time_counter", std::span<const double>(&t0, 1));
    w.commit();
  }
  expect_file_error([&] { File f(p); }, {p.string(), "nav_lat", "no coordinates"});
}

TEST(NemoGrid, MissingFile) {
  TempDir dir;
  const fs::path p = dir / "missing.nc";
  expect_file_error([&] { File f(p); }, {p.string(), "file not found"});
}

// ---- time axis
// ----------------------------------------------------------------------------------------------

TEST(NemoTime, MonthlyAxisNoleap) {
  TempDir dir;
  const File f(make(dir, {}));
  EXPECT_EQ(f.time_dim(), "time_counter");
  EXPECT_EQ(f.months().first, (YearMonth{1958, 1}));
  EXPECT_EQ(f.months().count, 14);
  EXPECT_EQ(f.months().at(13), (YearMonth{1959, 2}));
  EXPECT_EQ(f.time_units().unit, cftime::TimeUnit::Seconds);
  EXPECT_EQ(f.time_units().epoch, (cftime::DateTime{1900, 1, 1}));
  EXPECT_EQ(f.time_units().calendar, Calendar::NoLeap);
}

TEST(NemoTime, MonthlyAxisInEveryCalendar) {
  TempDir dir;
  struct Case {
    std::optional<std::string> attribute;
    Calendar expected;
  };
  const std::vector<Case> cases = {
      {"standard", Calendar::Standard},   {"gregorian", Calendar::Standard},
      {std::nullopt, Calendar::Standard}, {"proleptic_gregorian", Calendar::ProlepticGregorian},
      {"noleap", Calendar::NoLeap},       {"365_day", Calendar::NoLeap},
      {"all_leap", Calendar::AllLeap},    {"360_day", Calendar::Day360},
      {"julian", Calendar::Julian},
  };
  int k = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.attribute.value_or("(no calendar attribute)"));
    Spec s;
    s.calendar = c.attribute;
    s.first = YearMonth{2003, 11};  // crosses the leap February of 2004
    const File f(make(dir, s, fmt::format("cal{}.nc", k++)));
    EXPECT_EQ(f.time_units().calendar, c.expected);
    EXPECT_EQ(f.months().first, (YearMonth{2003, 11}));
    EXPECT_EQ(f.months().count, 14);
    EXPECT_EQ(f.months().at(13), (YearMonth{2004, 12}));
  }
}

TEST(NemoTime, StartOfMonthStampsInDays) {
  TempDir dir;
  Spec s;
  s.calendar = "standard";
  s.nt = 3;
  s.first = YearMonth{2000, 1};
  // Days since 1900-01-01 of 2000-01-01, 2000-02-01, 2000-03-01 (36524 days to 2000-01-01).
  s.time_values = {36524.0, 36555.0, 36584.0};
  s.units = "days since 1900-01-01";
  const File f(make(dir, s));
  EXPECT_EQ(f.time_units().unit, cftime::TimeUnit::Days);
  EXPECT_EQ(f.months().first, (YearMonth{2000, 1}));
  EXPECT_EQ(f.months().count, 3);
}

TEST(NemoTime, TimeDimensionNamedTime) {
  TempDir dir;
  Spec s;
  s.time_dim = "time";
  s.nt = 12;
  const File f(make(dir, s));
  EXPECT_EQ(f.time_dim(), "time");
  EXPECT_EQ(f.months().count, 12);
  EXPECT_EQ(f.read_all("sst").size(), 12 * kNy * kNx);
}

TEST(NemoTime, GapInTheMonthsIsRejected) {
  TempDir dir;
  Spec s;
  const auto u = cftime::parse_units(kUnits, "noleap");
  auto values = cftime::MonthlyAxis{YearMonth{1958, 1}, 14}.mid_month_offsets(u);
  values.erase(values.begin() + 5);  // no June 1958
  s.time_values = values;
  const fs::path p = make(dir, s, "gap.nc");
  const FileError e =
      expect_file_error([&] { File f(p); }, {p.string(), "time_counter", "1958-07", "1958-06"});
  EXPECT_EQ(e.file(), p.string());
  EXPECT_EQ(e.variable(), "time_counter");
}

TEST(NemoTime, RepeatedMonthIsRejected) {
  TempDir dir;
  Spec s;
  const auto u = cftime::parse_units(kUnits, "noleap");
  auto values = cftime::MonthlyAxis{YearMonth{1958, 1}, 12}.mid_month_offsets(u);
  values.insert(values.begin() + 3, values[3] + 3600.0);
  s.time_values = values;
  const fs::path p = make(dir, s, "repeat.nc");
  const FileError e = expect_file_error([&] { File f(p); }, {p.string(), "time_counter", "repeated"});
  EXPECT_EQ(e.variable(), "time_counter");
}

TEST(NemoTime, MissingUnitsIsAnError) {
  TempDir dir;
  Spec s;
  s.units = std::nullopt;
  const fs::path p = make(dir, s, "nounits.nc");
  const FileError e = expect_file_error([&] { File f(p); }, {p.string(), "time_counter", "units"});
  EXPECT_EQ(e.variable(), "time_counter");
}

TEST(NemoTime, BadUnitsOrCalendarAreErrorsNamingTheTimeVariable) {
  TempDir dir;
  Spec months;
  months.units = "months since 1900-01-01";
  const fs::path p = make(dir, months, "months.nc");
  expect_file_error([&] { File f(p); }, {p.string(), "time_counter", "months since"});

  Spec calendar;
  calendar.calendar = "martian";
  calendar.time_values = {0.0};
  const fs::path q = make(dir, calendar, "martian.nc");
  expect_file_error([&] { File f(q); }, {q.string(), "time_counter", "martian"});
}

TEST(NemoTime, MissingTimeValueIsAnError) {
  TempDir dir;
  Spec s;
  const auto u = cftime::parse_units(kUnits, "noleap");
  auto values = cftime::MonthlyAxis{YearMonth{1958, 1}, 3}.mid_month_offsets(u);
  values[1] = std::numeric_limits<double>::quiet_NaN();
  s.time_values = values;
  const fs::path p = make(dir, s, "nan_time.nc");
  expect_file_error([&] { File f(p); }, {p.string(), "time_counter", "index 1"});
}

TEST(NemoTime, NoTimeDimensionIsAnError) {
  TempDir dir;
  const fs::path p = dir / "notime.nc";
  {
    nc::Writer w(p);
    w.add_dim("y", kNy);
    w.add_dim("x", kNx);
    w.add_var("nav_lat", NC_DOUBLE, {"y", "x"});
    w.add_var("nav_lon", NC_DOUBLE, {"y", "x"});
    const std::vector<double> zeros(kNy * kNx, 0.0);
    w.write("nav_lat", std::span<const double>(zeros));
    w.write("nav_lon", std::span<const double>(zeros));
    w.commit();
  }
  expect_file_error([&] { File f(p); }, {p.string(), "time"});
}

// ---- fields
// -------------------------------------------------------------------------------------------------

TEST(NemoFields, ReadMonthAndReadAllReturnFillValuesAsNan) {
  TempDir dir;
  const File f(make(dir, {}));
  EXPECT_NO_THROW(f.check_field("sst"));
  const auto all = f.read_all("sst");
  ASSERT_EQ(all.size(), 14 * kNy * kNx);
  for (std::size_t t = 0; t < 14; ++t) {
    const auto month = f.read_month("sst", t);
    ASSERT_EQ(month.size(), kNy * kNx);
    for (std::size_t j = 0; j < kNy; ++j)
      for (std::size_t i = 0; i < kNx; ++i) {
        const float m = month[j * kNx + i], a = all[(t * kNy + j) * kNx + i];
        if (field_missing(t, j, i)) {
          EXPECT_TRUE(std::isnan(m)) << t << "," << j << "," << i << ": " << m;
          EXPECT_TRUE(std::isnan(a)) << t << "," << j << "," << i << ": " << a;
        } else {
          EXPECT_EQ(m, field_value(t, j, i)) << t << "," << j << "," << i;
          EXPECT_EQ(a, field_value(t, j, i)) << t << "," << j << "," << i;
        }
      }
  }
}

TEST(NemoFields, MonthOutOfRange) {
  TempDir dir;
  const fs::path p = make(dir, {});
  const File f(p);
  expect_file_error([&] { (void)f.read_month("sst", 14); }, {p.string(), "'sst'", "14", "out of range"});
}

TEST(NemoFields, WrongDimensionsAreRejectedNamingBothLists) {
  TempDir dir;
  Spec s;
  s.bad_fields = true;
  const fs::path p = make(dir, s);
  const File f(p);
  EXPECT_NO_THROW(f.check_field("sst"));
  const std::vector<std::pair<std::string, std::string>> cases = {{"sst_yxt", "(y, x, time_counter)"},
                                                                  {"sst_txy", "(time_counter, x, y)"}};
  for (const auto& c : cases) {
    const std::string& var = c.first;
    const std::string& dims = c.second;
    SCOPED_TRACE(var);
    const std::initializer_list<std::string> parts = {p.string(), "'" + var + "'", dims,
                                                      "(time_counter, y, x)"};
    const FileError e = expect_file_error([&] { f.check_field(var); }, parts);
    EXPECT_EQ(e.variable(), var);
    expect_file_error([&] { (void)f.read_month(var, 0); }, parts);
    expect_file_error([&] { (void)f.read_all(var); }, parts);
  }
  // A coordinate is not a field either.
  expect_file_error([&] { f.check_field("nav_lat"); }, {"'nav_lat'", "(y, x)", "(time_counter, y, x)"});
}

// Packed fields and metrics (short + scale_factor/add_offset, as ncpdq writes them) are unpacked by the NEMO
// reader, and an unsupported packing is an error naming the file and the variable.
TEST(NemoFields, PackedFieldsAndMetricsAreUnpacked) {
  TempDir dir;
  const fs::path p = make(dir, {});
  constexpr std::size_t nt = 14;
  const float scale = 0.05f, offset = 500.0f;
  std::vector<std::int16_t> packed(nt * kNy * kNx);
  for (std::size_t t = 0; t < nt; ++t)
    for (std::size_t j = 0; j < kNy; ++j)
      for (std::size_t i = 0; i < kNx; ++i)
        packed[(t * kNy + j) * kNx + i] =
            field_missing(t, j, i)
                ? std::int16_t{-32767}
                : static_cast<std::int16_t>(std::lround((field_value(t, j, i) - offset) / scale));
  std::vector<std::int16_t> e1(kNy * kNx), e2(kNy * kNx);
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      e1[j * kNx + i] = static_cast<std::int16_t>((e1t(j, i) - 1000.0) / 0.5);
      e2[j * kNx + i] = static_cast<std::int16_t>((e2t(j, i) - 1000.0) / 0.5);
    }
  {
    int ncid = -1, t = -1, y = -1, x = -1;
    ASSERT_EQ(nc_open(p.c_str(), NC_WRITE, &ncid), NC_NOERR);
    ASSERT_EQ(nc_redef(ncid), NC_NOERR);
    ASSERT_EQ(nc_inq_dimid(ncid, "time_counter", &t), NC_NOERR);
    ASSERT_EQ(nc_inq_dimid(ncid, "y", &y), NC_NOERR);
    ASSERT_EQ(nc_inq_dimid(ncid, "x", &x), NC_NOERR);
    const int dims3[3] = {t, y, x}, dims2[2] = {y, x};
    int sst = -1, bad = -1, v1 = -1, v2 = -1;
    ASSERT_EQ(nc_def_var(ncid, "sst_packed", NC_SHORT, 3, dims3, &sst), NC_NOERR);
    ASSERT_EQ(nc_put_att_float(ncid, sst, "scale_factor", NC_FLOAT, 1, &scale), NC_NOERR);
    ASSERT_EQ(nc_put_att_float(ncid, sst, "add_offset", NC_FLOAT, 1, &offset), NC_NOERR);
    const short fill = -32767;
    ASSERT_EQ(nc_put_att_short(ncid, sst, "_FillValue", NC_SHORT, 1, &fill), NC_NOERR);
    ASSERT_EQ(nc_def_var(ncid, "sst_bad", NC_SHORT, 3, dims3, &bad), NC_NOERR);
    const double doffset = 500.0;
    ASSERT_EQ(nc_put_att_float(ncid, bad, "scale_factor", NC_FLOAT, 1, &scale), NC_NOERR);
    ASSERT_EQ(nc_put_att_double(ncid, bad, "add_offset", NC_DOUBLE, 1, &doffset), NC_NOERR);
    const double half = 0.5, thousand = 1000.0;
    for (auto [name, id] : {std::pair<const char*, int*>{"e1t", &v1}, {"e2t", &v2}}) {
      ASSERT_EQ(nc_def_var(ncid, name, NC_SHORT, 2, dims2, id), NC_NOERR);
      ASSERT_EQ(nc_put_att_double(ncid, *id, "scale_factor", NC_DOUBLE, 1, &half), NC_NOERR);
      ASSERT_EQ(nc_put_att_double(ncid, *id, "add_offset", NC_DOUBLE, 1, &thousand), NC_NOERR);
    }
    ASSERT_EQ(nc_enddef(ncid), NC_NOERR);
    const std::size_t start[3] = {0, 0, 0}, count[3] = {nt, kNy, kNx};
    ASSERT_EQ(nc_put_vara_short(ncid, sst, start, count, packed.data()), NC_NOERR);
    ASSERT_EQ(nc_put_vara_short(ncid, bad, start, count, packed.data()), NC_NOERR);
    ASSERT_EQ(nc_put_var_short(ncid, v1, e1.data()), NC_NOERR);
    ASSERT_EQ(nc_put_var_short(ncid, v2, e2.data()), NC_NOERR);
    ASSERT_EQ(nc_close(ncid), NC_NOERR);
  }
  const File f(p);
  ASSERT_TRUE(f.grid().has_metrics());
  const auto area = f.grid().area();
  for (std::size_t j = 0; j < kNy; ++j)
    for (std::size_t i = 0; i < kNx; ++i) {
      EXPECT_EQ(f.grid().e1t[j * kNx + i], e1t(j, i)) << j << "," << i;
      EXPECT_EQ(area[j * kNx + i], e1t(j, i) * e2t(j, i)) << j << "," << i;
    }
  const auto all = f.read_all("sst_packed");
  for (std::size_t t = 0; t < nt; ++t) {
    const auto month = f.read_month("sst_packed", t);
    for (std::size_t j = 0; j < kNy; ++j)
      for (std::size_t i = 0; i < kNx; ++i) {
        const std::size_t k = j * kNx + i;
        if (field_missing(t, j, i)) {
          EXPECT_TRUE(std::isnan(month[k]) && std::isnan(all[t * kNy * kNx + k]))
              << t << "," << j << "," << i;
          continue;
        }
        const float expected =
            static_cast<float>(packed[t * kNy * kNx + k] * static_cast<double>(scale) + offset);
        EXPECT_EQ(month[k], expected) << t << "," << j << "," << i;
        EXPECT_EQ(all[t * kNy * kNx + k], expected);
        EXPECT_NEAR(month[k], field_value(t, j, i), 0.5 * scale + 1e-4) << t << "," << j << "," << i;
      }
  }
  const FileError e = expect_file_error([&] { (void)f.read_month("sst_bad", 0); },
                                        {p.string(), "'sst_bad'", "unsupported packing", "add_offset"});
  EXPECT_EQ(e.variable(), "sst_bad");
}

TEST(NemoFields, MissingFieldListsTheVariables) {
  TempDir dir;
  const fs::path p = make(dir, {});
  const File f(p);
  expect_file_error([&] { (void)f.read_month("co2flux_pre", 0); },
                    {p.string(), "'co2flux_pre'", "not found", "nav_lat", "sst"});
}

}  // namespace
}  // namespace fluxkit::nemo
