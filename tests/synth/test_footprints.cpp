// `fluxkit synth footprints`: the generated case read back with the HDF5 C API and netCDF-C directly (not
// through fluxkit's readers), so the layout is checked against spec transport.md §4-§7 independently.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <netcdf.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/synth/footprints.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/rc.hpp"

namespace fluxkit::synth {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("fluxkit_synthfp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// "%Y%m%d%H%M%S" -> seconds since 1970 (UTC); -1 when malformed.
std::int64_t parse_stamp(const std::string& s) {
  int y, mo, d, h, mi, se;
  if (s.size() != 14 || std::sscanf(s.c_str(), "%4d%2d%2d%2d%2d%2d", &y, &mo, &d, &h, &mi, &se) != 6)
    return -1;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return static_cast<std::int64_t>(timegm(&tm));
}

// A small case: 3 stations, observations on Jan 31 and Feb 1 (two files per station), 2-3 days back.
SynthFootprintParams small(const fs::path& dir) {
  SynthFootprintParams p;
  p.output_dir = dir.string();
  p.observations = 30;
  p.stations = {"NOR:60.09:17.48:100:46", "HTM:56.10:13.42:150", "CBW:51.97:4.93:207:0"};
  p.start = "2018-01-31";
  p.days = 2;
  p.min_back_days = 2;
  p.max_back_days = 3;
  p.particles = 150;
  return p;
}

// ---- reading the legacy footprint files with the HDF5 C API
// ---------------------------------------------------

struct Slice {
  std::string name;
  std::int64_t t1 = 0, t2 = 0;  // name = <T1>_<T2>
  std::vector<int> ilat, ilon;
  std::vector<float> resp;
  bool types_ok = true, layout_ok = true, attrs_none = true, equal_lengths = true;
};
struct ObsGroup {
  std::string key;
  std::vector<Slice> slices;  // in name order
};
struct H5Contents {
  std::vector<double> lats, lons;
  bool coords_f64 = false;
  std::vector<ObsGroup> obs;  // in name order
  std::size_t root_objects = 0;
};

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}
std::vector<std::string> link_names(hid_t group) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  EXPECT_GE(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names), 0);
  return names;
}
herr_t count_attr(hid_t, const char*, const H5A_info_t*, void* data) {
  ++*static_cast<int*>(data);
  return 0;
}
int attribute_count(hid_t obj) {
  int n = 0;
  hsize_t idx = 0;
  H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, count_attr, &n);
  return n;
}

template <class T>
std::vector<T> read_dataset(hid_t parent, const char* name, hid_t expected_type, hid_t mem_type,
                            bool& type_ok, bool& layout_ok, bool& attrs_none) {
  const hid_t ds = H5Dopen2(parent, name, H5P_DEFAULT);
  EXPECT_GE(ds, 0) << name;
  if (ds < 0) return {};
  const hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
  type_ok = type_ok && H5Tequal(type, expected_type) > 0;
  layout_ok = layout_ok && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl) == 0;
  attrs_none = attrs_none && attribute_count(ds) == 0;
  EXPECT_EQ(H5Sget_simple_extent_ndims(space), 1);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0) {
    EXPECT_GE(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), 0);
  }
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(ds);
  return out;
}

H5Contents read_h5(const fs::path& path) {
  H5Contents c;
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << path;
  if (f < 0) return c;
  bool t = true, l = true, a = true;
  c.lats = read_dataset<double>(f, "latitudes", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, t, l, a);
  c.lons = read_dataset<double>(f, "longitudes", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, t, l, a);
  c.coords_f64 = t && l && a;
  const auto names = link_names(f);
  c.root_objects = names.size();
  for (const auto& key : names) {
    if (key == "latitudes" || key == "longitudes") continue;
    ObsGroup og;
    og.key = key;
    const hid_t g = H5Gopen2(f, key.c_str(), H5P_DEFAULT);
    EXPECT_GE(g, 0) << key;
    EXPECT_EQ(attribute_count(g), 0);
    for (const auto& sn : link_names(g)) {
      Slice s;
      s.name = sn;
      const auto us = sn.find('_');
      if (us != std::string::npos) {
        s.t1 = parse_stamp(sn.substr(0, us));
        s.t2 = parse_stamp(sn.substr(us + 1));
      }
      const hid_t sg = H5Gopen2(g, sn.c_str(), H5P_DEFAULT);
      EXPECT_GE(sg, 0) << key << "/" << sn;
      s.attrs_none = attribute_count(sg) == 0;
      s.ilat = read_dataset<int>(sg, "ilats", H5T_STD_I32LE, H5T_NATIVE_INT, s.types_ok, s.layout_ok,
                                 s.attrs_none);
      s.ilon = read_dataset<int>(sg, "ilons", H5T_STD_I32LE, H5T_NATIVE_INT, s.types_ok, s.layout_ok,
                                 s.attrs_none);
      s.resp = read_dataset<float>(sg, "resp", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s.types_ok, s.layout_ok,
                                   s.attrs_none);
      s.equal_lengths = s.ilat.size() == s.resp.size() && s.ilon.size() == s.resp.size();
      H5Gclose(sg);
      og.slices.push_back(std::move(s));
    }
    H5Gclose(g);
    c.obs.push_back(std::move(og));
  }
  H5Fclose(f);
  return c;
}

// ---- reading the flux file with netCDF-C
// ------------------------------------------------------------------------

struct FluxCat {
  std::size_t nt = 0, nlat = 0, nlon = 0;
  std::vector<int> times_start, times_end;  // [nt * 6]
  std::vector<double> emis;
  std::vector<float> lats, lons;
};
FluxCat read_flux(const fs::path& path, const std::string& cat) {
  FluxCat c;
  int nc = -1;
  EXPECT_EQ(nc_open(path.c_str(), NC_NOWRITE, &nc), NC_NOERR) << path;
  int g = -1;
  EXPECT_EQ(nc_inq_grp_ncid(nc, cat.c_str(), &g), NC_NOERR) << cat;
  auto dim = [&](const char* name) {
    int id = -1;
    std::size_t n = 0;
    EXPECT_EQ(nc_inq_dimid(g, name, &id), NC_NOERR) << name;
    nc_inq_dimlen(g, id, &n);
    return n;
  };
  c.nt = dim("nt");
  c.nlat = dim("nlat");
  c.nlon = dim("nlon");
  auto var = [&](const char* name) {
    int id = -1;
    EXPECT_EQ(nc_inq_varid(g, name, &id), NC_NOERR) << name;
    return id;
  };
  c.times_start.resize(c.nt * 6);
  c.times_end.resize(c.nt * 6);
  c.emis.resize(c.nt * c.nlat * c.nlon);
  c.lats.resize(c.nlat);
  c.lons.resize(c.nlon);
  EXPECT_EQ(nc_get_var_int(g, var("times_start"), c.times_start.data()), NC_NOERR);
  EXPECT_EQ(nc_get_var_int(g, var("times_end"), c.times_end.data()), NC_NOERR);
  EXPECT_EQ(nc_get_var_double(g, var("emis"), c.emis.data()), NC_NOERR);
  EXPECT_EQ(nc_get_var_float(g, var("lats"), c.lats.data()), NC_NOERR);
  EXPECT_EQ(nc_get_var_float(g, var("lons"), c.lons.data()), NC_NOERR);
  nc_close(nc);
  return c;
}
std::int64_t step_time(const std::vector<int>& t, std::size_t k) {
  return parse_stamp(fmt::format("{:04d}{:02d}{:02d}{:02d}{:02d}{:02d}", t[k * 6], t[k * 6 + 1], t[k * 6 + 2],
                                 t[k * 6 + 3], t[k * 6 + 4], t[k * 6 + 5]));
}

// ---- the shared case
// --------------------------------------------------------------------------------------------

class SynthFootprints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fresh_dir("case"));
    params_ = new SynthFootprintParams(small(*dir_));
    Context ctx;
    ctx.threads = 2;
    ctx.seed = 7;
    summary_ = new SynthFootprintSummary(generate_footprints(*params_, ctx));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete summary_;
    delete params_;
    delete dir_;
  }
  static fs::path* dir_;
  static SynthFootprintParams* params_;
  static SynthFootprintSummary* summary_;
};
fs::path* SynthFootprints::dir_ = nullptr;
SynthFootprintParams* SynthFootprints::params_ = nullptr;
SynthFootprintSummary* SynthFootprints::summary_ = nullptr;

TEST_F(SynthFootprints, WritesTheFilesOfACase) {
  const auto& s = *summary_;
  EXPECT_EQ(s.observations, 30u);
  EXPECT_EQ(s.days_used, 2u);  // 3 stations x 6 daytime hours = 18 per day
  EXPECT_EQ(s.nlat, 80u);
  EXPECT_EQ(s.nlon, 100u);
  EXPECT_EQ(s.nt, 5u * 8u);  // (days + max_back_days) * 8 three-hour steps
  EXPECT_TRUE(fs::exists(*dir_ / "observations.tar.gz"));
  EXPECT_TRUE(fs::exists(*dir_ / "fluxes.nc"));
  EXPECT_TRUE(fs::exists(*dir_ / "transport.rc"));
  EXPECT_TRUE(fs::is_directory(*dir_ / "run"));
  // One file per station and month, LUMIA names, sorted by station code then month.
  std::vector<std::string> names;
  for (const auto& f : s.footprint_files) {
    EXPECT_TRUE(fs::exists(f)) << f;
    EXPECT_EQ(f.parent_path().filename(), "footprints");
    names.push_back(f.filename().string());
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"cbw.207m.2018-01.h5", "cbw.207m.2018-02.h5", "htm.150m.2018-01.h5",
                                      "htm.150m.2018-02.h5", "nor.100m.2018-01.h5", "nor.100m.2018-02.h5"}));
  // Atomic writes leave no temp files behind.
  for (const auto& e : fs::recursive_directory_iterator(*dir_))
    EXPECT_NE(e.path().filename().string().front(), '.') << e.path();
  std::uint64_t bytes = 0;
  for (const auto& f : s.footprint_files)
    bytes += fs::file_size(f);
  EXPECT_EQ(bytes, s.footprint_bytes);
}

TEST_F(SynthFootprints, LegacyLayoutReadBackWithHdf5) {
  const auto& p = *params_;
  const auto db = transport::ObsDb::read(*dir_ / "observations.tar.gz");
  const std::size_t c_time = db.observations.require_column("time", "observations");
  const std::size_t c_fp = db.observations.require_column("footprint", "observations");
  std::map<std::string, std::set<std::string>> keys_of_file;
  for (const auto& row : db.observations.rows)
    keys_of_file[row[c_fp]].insert(row[c_time]);
  ASSERT_EQ(keys_of_file.size(), summary_->footprint_files.size());

  std::uint64_t slices = 0, empty = 0, nonzeros = 0;
  double largest = 0;
  for (const auto& path : summary_->footprint_files) {
    SCOPED_TRACE(path.string());
    const H5Contents c = read_h5(path);
    // Root: float64 cell centres of the flux grid, then one group per observation named %Y%m%d%H%M%S.
    EXPECT_TRUE(c.coords_f64);
    ASSERT_EQ(c.lats.size(), 80u);
    ASSERT_EQ(c.lons.size(), 100u);
    EXPECT_DOUBLE_EQ(c.lats.front(), 33.25);
    EXPECT_DOUBLE_EQ(c.lats.back(), 72.75);
    EXPECT_DOUBLE_EQ(c.lons.front(), -14.75);
    EXPECT_DOUBLE_EQ(c.lons.back(), 34.75);
    EXPECT_EQ(c.root_objects, c.obs.size() + 2);
    std::set<std::string> keys;
    for (const auto& og : c.obs)
      keys.insert(og.key);
    EXPECT_EQ(keys, keys_of_file[path.string()]);

    for (const auto& og : c.obs) {
      SCOPED_TRACE(og.key);
      const std::int64_t t_obs = parse_stamp(og.key);
      ASSERT_GT(t_obs, 0);
      std::vector<const Slice*> valid, junk;
      for (const auto& s : og.slices) {
        ASSERT_GT(s.t1, 0) << s.name;
        ASSERT_GT(s.t2, 0) << s.name;
        (s.t1 > s.t2 ? valid : junk).push_back(&s);
      }
      // Exactly one junk "start_end" group (T1 < T2) per footprint, as in the real files.
      ASSERT_EQ(junk.size(), 1u);
      // Valid slices: 3-hourly end_start intervals, contiguous, the newest containing the obs time.
      std::sort(valid.begin(), valid.end(), [](auto* a, auto* b) { return a->t2 < b->t2; });
      const std::size_t per_day = 24 / static_cast<std::size_t>(p.slice_hours);
      EXPECT_GE(valid.size(), static_cast<std::size_t>(p.min_back_days) * per_day + 1);
      EXPECT_LE(valid.size(), static_cast<std::size_t>(p.max_back_days) * per_day + 1);
      for (std::size_t k = 0; k < valid.size(); ++k) {
        EXPECT_EQ(valid[k]->t1 - valid[k]->t2, p.slice_hours * 3600);
        if (k > 0) {
          EXPECT_EQ(valid[k]->t2, valid[k - 1]->t1);
        }
      }
      EXPECT_LE(valid.back()->t2, t_obs);
      EXPECT_GT(valid.back()->t1, t_obs);
      // The junk group is the newest slice under its reversed name.
      EXPECT_EQ(junk[0]->t1, valid.back()->t2);
      EXPECT_EQ(junk[0]->t2, valid.back()->t1);
      EXPECT_EQ(junk[0]->resp, valid.back()->resp);
      double total = 0;
      for (const Slice* s : valid) {
        SCOPED_TRACE(s->name);
        EXPECT_TRUE(s->types_ok);
        EXPECT_TRUE(s->layout_ok);
        EXPECT_TRUE(s->attrs_none);
        ASSERT_TRUE(s->equal_lengths);
        std::set<std::pair<int, int>> pairs;
        for (std::size_t n = 0; n < s->resp.size(); ++n) {
          ASSERT_GE(s->ilat[n], 0);
          ASSERT_LT(s->ilat[n], 80);
          ASSERT_GE(s->ilon[n], 0);
          ASSERT_LT(s->ilon[n], 100);
          EXPECT_TRUE(std::isfinite(s->resp[n]) && s->resp[n] > 0);
          pairs.emplace(s->ilat[n], s->ilon[n]);
          total += s->resp[n];
          largest = std::max(largest, static_cast<double>(s->resp[n]));
        }
        EXPECT_EQ(pairs.size(), s->resp.size()) << "duplicated (ilat, ilon) pairs";
        ++slices;
        empty += s->resp.empty();
        nonzeros += s->resp.size();
      }
      // Realistic totals: the newest slice is concentrated near the station, sums of order 10-30.
      EXPECT_FALSE(valid.back()->resp.empty());
      EXPECT_GT(total, 2.0);
      EXPECT_LT(total, 80.0);
    }
  }
  EXPECT_EQ(slices, summary_->slices);
  EXPECT_EQ(empty, summary_->empty_slices);
  EXPECT_EQ(nonzeros, summary_->nonzeros);
  EXPECT_GT(empty, 0u);  // some empty slices (n = 0), as real files have
  EXPECT_GT(largest, 0.2);
  EXPECT_LT(largest, 5.0);
  EXPECT_DOUBLE_EQ(largest, summary_->resp_max);
}

TEST_F(SynthFootprints, SlicesMatchTheFluxTimeStepsAndTruthIsTheForwardModel) {
  const auto& p = *params_;
  std::vector<FluxCat> cats;
  for (const auto& name : p.categories)
    cats.push_back(read_flux(*dir_ / "fluxes.nc", name));
  const FluxCat& f = cats.front();
  ASSERT_EQ(f.nt, summary_->nt);
  ASSERT_EQ(f.nlat, 80u);
  ASSERT_EQ(f.nlon, 100u);
  EXPECT_FLOAT_EQ(f.lats.front(), 33.25f);
  EXPECT_FLOAT_EQ(f.lons.back(), 34.75f);
  // Time axis: 3-hourly from start - max_back_days to start + days.
  EXPECT_EQ(step_time(f.times_start, 0), parse_stamp("20180128000000"));
  EXPECT_EQ(step_time(f.times_end, f.nt - 1), parse_stamp("20180202000000"));
  std::map<std::pair<std::int64_t, std::int64_t>, std::size_t> step;
  for (std::size_t k = 0; k < f.nt; ++k) {
    EXPECT_EQ(step_time(f.times_end, k) - step_time(f.times_start, k), 3 * 3600);
    step[{step_time(f.times_start, k), step_time(f.times_end, k)}] = k;
  }
  for (const auto& c : cats) {
    EXPECT_EQ(c.times_start, f.times_start);
    EXPECT_EQ(c.nt, f.nt);
  }
  // Fluxes: realistic ranges (umol m-2 s-1) and fossil hot spots.
  const auto [bmin, bmax] = std::minmax_element(cats[0].emis.begin(), cats[0].emis.end());
  EXPECT_GT(*bmax, 0.2);
  EXPECT_LT(*bmax, 20.0);
  EXPECT_GT(*bmin, -30.0);
  const auto [fmin, fmax] = std::minmax_element(cats[1].emis.begin(), cats[1].emis.end());
  EXPECT_GE(*fmin, 0.0);
  EXPECT_GT(*fmax, 3.0);
  EXPECT_LT(*fmax, 30.0);

  // Every valid slice is exactly a flux step; truth - background = the forward model of the written fluxes.
  const auto db = transport::ObsDb::read(*dir_ / "observations.tar.gz");
  const auto& obs = db.observations;
  const std::size_t c_time = obs.require_column("time", "o"), c_fp = obs.require_column("footprint", "o"),
                    c_truth = obs.require_column("truth", "o"), c_bg = obs.require_column("background", "o");
  std::map<std::string, H5Contents> files;
  for (const auto& path : summary_->footprint_files)
    files[path.string()] = read_h5(path);
  for (std::size_t r = 0; r < obs.size(); ++r) {
    const auto& row = obs.rows[r];
    const auto& c = files.at(row[c_fp]);
    const auto it =
        std::find_if(c.obs.begin(), c.obs.end(), [&](const auto& g) { return g.key == row[c_time]; });
    ASSERT_NE(it, c.obs.end()) << row[c_time];
    double fg = 0;
    for (const auto& s : it->slices) {
      if (s.t1 <= s.t2) continue;  // junk
      const auto k = step.find({s.t2, s.t1});
      ASSERT_NE(k, step.end()) << s.name << " is not a flux time step";
      for (const auto& cat : cats)
        for (std::size_t n = 0; n < s.resp.size(); ++n)
          fg += static_cast<double>(s.resp[n]) *
                cat.emis[(k->second * cat.nlat + static_cast<std::size_t>(s.ilat[n])) * cat.nlon +
                         static_cast<std::size_t>(s.ilon[n])];
    }
    const double truth = std::stod(row[c_truth]), bg = std::stod(row[c_bg]);
    EXPECT_NEAR(truth - bg, fg, 1e-9 * std::max(1.0, std::abs(fg))) << "row " << r;
    EXPECT_GT(fg, 0.5);  // winter respiration and fossil fuel: positive enhancements
    EXPECT_LT(fg, 200.0);
  }
}

TEST_F(SynthFootprints, ObsdbMembersColumnsAndCounts) {
  const auto db = transport::ObsDb::read(*dir_ / "observations.tar.gz");
  const auto& o = db.observations;
  EXPECT_EQ(o.index_name, "");
  EXPECT_EQ(o.columns, (std::vector<std::string>{"time", "site", "lat", "lon", "alt", "height", "obs", "err",
                                                 "background", "dy", "footprint", "truth"}));
  ASSERT_EQ(o.size(), 30u);
  for (std::size_t r = 0; r < o.size(); ++r)
    EXPECT_EQ(o.index[r], std::to_string(r));
  EXPECT_EQ(db.sites.columns, (std::vector<std::string>{"lat", "lon", "alt", "height", "code", "name"}));
  EXPECT_EQ(db.sites.index, (std::vector<std::string>{"CBW", "HTM", "NOR"}));
  EXPECT_EQ(db.files.columns, (std::vector<std::string>{"filename"}));
  EXPECT_EQ(db.files.size(), 0u);
  EXPECT_EQ(db.files.to_csv(), ",filename\n");

  // Ordered by site, then time; stations round-robin (10 each), daytime hours 11..16 UTC.
  std::map<std::string, int> per_site;
  std::string last_site, last_time;
  const std::size_t c_site = o.require_column("site", "o"), c_time = o.require_column("time", "o");
  for (const auto& row : o.rows) {
    ++per_site[row[c_site]];
    if (row[c_site] == last_site) {
      EXPECT_LT(last_time, row[c_time]);
    }
    EXPECT_LE(last_site, row[c_site]);
    last_site = row[c_site];
    last_time = row[c_time];
    const int hour = std::stoi(row[c_time].substr(8, 2));
    EXPECT_GE(hour, 11);
    EXPECT_LE(hour, 16);
    EXPECT_EQ(row[c_time].substr(10), "0000");
    EXPECT_TRUE(std::find(db.sites.index.begin(), db.sites.index.end(), row[c_site]) != db.sites.index.end());
    const fs::path fp = row[o.require_column("footprint", "o")];
    EXPECT_TRUE(fp.is_absolute()) << fp;
    EXPECT_TRUE(fs::exists(fp)) << fp;
    // obs = truth + noise of the stated error; dy = (truth - obs) / err^2.
    const double obs = std::stod(row[o.require_column("obs", "o")]),
                 err = std::stod(row[o.require_column("err", "o")]),
                 truth = std::stod(row[o.require_column("truth", "o")]),
                 dy = std::stod(row[o.require_column("dy", "o")]),
                 bg = std::stod(row[o.require_column("background", "o")]);
    EXPECT_LE(std::abs(obs - truth), 3.5 * err);
    EXPECT_NEAR(dy, (truth - obs) / (err * err), 1e-12);
    EXPECT_GT(bg, 400.0);
    EXPECT_LT(bg, 420.0);
  }
  EXPECT_EQ(per_site, (std::map<std::string, int>{{"CBW", 10}, {"HTM", 10}, {"NOR", 10}}));
  // Sites: coordinates and heights as given (alt 0 when not given).
  const auto& s = db.sites;
  EXPECT_EQ(s.rows[1][s.require_column("height", "s")], "150.0");
  EXPECT_EQ(s.rows[1][s.require_column("alt", "s")], "0.0");
  EXPECT_EQ(s.rows[2][s.require_column("lat", "s")], "60.09");
  EXPECT_EQ(s.rows[2][s.require_column("name", "s")], "Norunda");
}

TEST_F(SynthFootprints, RcFileHasTheKeysLumiaReads) {
  const auto rc = transport::RcFile::parse_file(*dir_ / "transport.rc");
  EXPECT_EQ(rc.get_list("emissions.categories"), (std::vector<std::string>{"biosphere", "fossil"}));
  EXPECT_TRUE(rc.get_bool("emissions.biosphere.optimize"));
  EXPECT_FALSE(rc.get_bool("emissions.fossil.optimize"));
  for (const char* key : {"emissions.biosphere.error", "emissions.biosphere.corr",
                          "emissions.biosphere.tcorr", "optimization.interval", "model.transport.split"})
    EXPECT_TRUE(rc.has(key)) << key;
  EXPECT_EQ(rc.get("emissions.*.interval"), "3h");
  EXPECT_EQ(rc.get_list("time.start"), (std::vector<std::string>{"2018", "1", "28"}));
  EXPECT_EQ(rc.get_list("time.end"), (std::vector<std::string>{"2018", "2", "2"}));
  EXPECT_EQ(rc.get("region"), "eurocom05x05");
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.lat0"), 33.0);
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.lat1"), 73.0);
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.dlat"), 0.5);
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.lon0"), -15.0);
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.lon1"), 35.0);
  EXPECT_DOUBLE_EQ(rc.get_double("region.eurocom05x05.dlon"), 0.5);
  const fs::path run = rc.get("path.run");
  EXPECT_TRUE(run.is_absolute());
  EXPECT_TRUE(fs::is_directory(run));
}

// ---- determinism and parameters
// -----------------------------------------------------------------------------------

TEST(SynthFootprintsDeterminism, SameSeedSameBytesWhateverTheThreads) {
  const fs::path a = fresh_dir("det_a"), b = fresh_dir("det_b"), c = fresh_dir("det_c");
  auto params = [](const fs::path& d) {
    SynthFootprintParams p = small(d);
    p.observations = 12;
    p.particles = 60;
    return p;
  };
  Context one, two, other;
  one.threads = 1;
  two.threads = 2;
  other.threads = 2;
  other.seed = 43;
  const auto sa = generate_footprints(params(a), one);
  const auto sb = generate_footprints(params(b), two);
  const auto sc = generate_footprints(params(c), other);
  ASSERT_EQ(sa.footprint_files.size(), sb.footprint_files.size());
  bool any_differs = false;
  for (std::size_t k = 0; k < sa.footprint_files.size(); ++k) {
    EXPECT_EQ(sa.footprint_files[k].filename(), sb.footprint_files[k].filename());
    EXPECT_EQ(slurp(sa.footprint_files[k]), slurp(sb.footprint_files[k])) << sa.footprint_files[k];
    any_differs = any_differs || slurp(sa.footprint_files[k]) != slurp(sc.footprint_files[k]);
  }
  EXPECT_TRUE(any_differs) << "another seed must give other footprints";
  EXPECT_EQ(slurp(a / "fluxes.nc"), slurp(b / "fluxes.nc"));
  // The obsdb holds absolute paths: equal once the directory is replaced.
  auto rows = [](const fs::path& d) {
    auto db = transport::ObsDb::read(d / "observations.tar.gz");
    std::string text = db.observations.to_csv() + db.sites.to_csv();
    for (auto pos = text.find(d.string()); pos != std::string::npos; pos = text.find(d.string()))
      text.replace(pos, d.string().size(), "DIR");
    return text;
  };
  EXPECT_EQ(rows(a), rows(b));
  EXPECT_NE(rows(a), rows(c));
  // Regenerating in place gives the same bytes again.
  generate_footprints(params(a), two);
  EXPECT_EQ(slurp(sa.footprint_files[0]), slurp(sb.footprint_files[0]));
  for (const auto& d : {a, b, c})
    fs::remove_all(d);
}

TEST(SynthFootprintsParams, ObservationCountAndHours) {
  const fs::path d = fresh_dir("count");
  SynthFootprintParams p = small(d);
  p.observations = 50;
  p.hours = "all";
  p.days = 1;  // 3 stations x 24 hours = 72 fit in one day
  p.min_back_days = 1;
  p.max_back_days = 1;
  p.particles = 20;
  p.categories = {"biosphere"};
  Context ctx;
  const auto s = generate_footprints(p, ctx);
  EXPECT_EQ(s.observations, 50u);
  EXPECT_EQ(s.days_used, 1u);
  const auto db = transport::ObsDb::read(d / "observations.tar.gz");
  ASSERT_EQ(db.observations.size(), 50u);
  std::set<int> hours;
  for (const auto& row : db.observations.rows)
    hours.insert(std::stoi(row[db.observations.require_column("time", "o")].substr(8, 2)));
  EXPECT_EQ(hours.size(), 17u);  // 50 = 16 full hours x 3 stations + 2 in the 17th hour
  EXPECT_EQ(*hours.begin(), 0);
  // One category: LUMIA needs the trailing comma.
  EXPECT_NE(slurp(d / "transport.rc").find("emissions.categories : biosphere,\n"), std::string::npos);
  fs::remove_all(d);
}

TEST(SynthFootprintsParams, ValidationNamesTheKey) {
  auto rejects = [](auto mutate, const std::string& key) {
    SynthFootprintParams p;
    mutate(p);
    try {
      p.validate();
      ADD_FAILURE() << "accepted a bad " << key;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key(), "synth.footprints." + key) << e.what();
    }
  };
  EXPECT_NO_THROW(SynthFootprintParams{}.validate());
  rejects([](auto& p) { p.observations = 0; }, "observations");
  rejects([](auto& p) { p.observations = 8 * 6 * 31 + 1; }, "observations");  // beyond 31 daytime days
  rejects([](auto& p) { p.stations = {"NOR:60.09:17.48"}; }, "stations");
  rejects([](auto& p) { p.stations = {"NOR:60.09:east:100"}; }, "stations");
  rejects([](auto& p) { p.stations = {"MLO:19.54:-155.58:40"}; }, "stations");  // outside the grid
  rejects([](auto& p) { p.stations = {"NOR:60.09:17.48:100", "nor:61:18:50"}; }, "stations");
  rejects([](auto& p) { p.start = "2018-02-30"; }, "start");
  rejects([](auto& p) { p.hours = "night"; }, "hours");
  rejects([](auto& p) { p.slice_hours = 5; }, "slice_hours");
  rejects([](auto& p) { p.max_back_days = 3; }, "max_back_days");
  rejects([](auto& p) { p.resolution = 0.7; }, "resolution");
  rejects([](auto& p) { p.categories = {"biosphere", "volcanoes"}; }, "categories");
  rejects([](auto& p) { p.optimize = {"ocean"}; }, "optimize");
  rejects([](auto& p) { p.particles = 0; }, "particles");
  SynthFootprintParams all;
  all.hours = "all";
  all.observations = 8 * 24 * 31;
  EXPECT_NO_THROW(all.validate());
}

TEST(SynthFootprintsParams, StationsAndFileNames) {
  const SynthStation st = parse_station("NOR:60.09:17.48:100");
  EXPECT_EQ(st.code, "NOR");
  EXPECT_DOUBLE_EQ(st.lat, 60.09);
  EXPECT_DOUBLE_EQ(st.lon, 17.48);
  EXPECT_DOUBLE_EQ(st.height, 100.0);
  EXPECT_DOUBLE_EQ(st.alt, 0.0);
  EXPECT_EQ(footprint_file_name(st, 2017, 1), "nor.100m.2017-01.h5");  // the real example's name
  EXPECT_EQ(footprint_file_name(parse_station("XYZ:50:10:22.5:300"), 2018, 12), "xyz.22.5m.2018-12.h5");
  EXPECT_DOUBLE_EQ(parse_station("XYZ:50:10:22.5:300").alt, 300.0);
  EXPECT_THROW(parse_station("a/b:50:10:20"), Error);
  EXPECT_THROW(parse_station("ABC:50:10:-5"), Error);
}

TEST(SynthFootprintsPlume, FootprintIsAPureFunctionWithThePlumeAtTheStation) {
  SynthFootprintParams p;
  const SynthStation st = parse_station("NOR:60.09:17.48:100");
  const std::int64_t t13 = parse_stamp("20170131130000"), t12 = parse_stamp("20170131120000");
  const auto a = make_footprint(p, st, t13, 42), b = make_footprint(p, st, t13, 42);
  ASSERT_EQ(a.slices.size(), b.slices.size());
  for (std::size_t k = 0; k < a.slices.size(); ++k) {
    EXPECT_EQ(a.slices[k].resp, b.slices[k].resp);
    EXPECT_EQ(a.slices[k].ilat, b.slices[k].ilat);
  }
  EXPECT_EQ(a.key, "20170131130000");
  // Slices oldest first; the newest contains the obs time (13:00 -> 12:00-15:00, as in the real file).
  EXPECT_EQ(a.slices.back().start, parse_stamp("20170131120000"));
  EXPECT_EQ(a.slices.back().end, parse_stamp("20170131150000"));
  // An observation on a slice boundary still has its newest slice filled (the obs is the hour it starts).
  const auto c = make_footprint(p, st, t12, 42);
  EXPECT_EQ(c.slices.back().start, t12);
  EXPECT_FALSE(c.slices.back().resp.empty());
  // The largest values sit next to the station (NOR: row 54, column 64 of the 0.5-degree grid) in the newest
  // slice; sensitivity decays with age.
  const auto& newest = a.slices.back();
  const auto top = std::max_element(newest.resp.begin(), newest.resp.end()) - newest.resp.begin();
  EXPECT_LE(std::abs(newest.ilat[static_cast<std::size_t>(top)] - 54), 1);
  EXPECT_LE(std::abs(newest.ilon[static_cast<std::size_t>(top)] - 64), 2);
  auto slice_sum = [](const transport::FootprintSlice& s) {
    double t = 0;
    for (float v : s.resp)
      t += v;
    return t;
  };
  const std::size_t n = a.slices.size();
  double recent = 0, old = 0;
  for (std::size_t k = 0; k < 8; ++k) {
    recent += slice_sum(a.slices[n - 1 - k]);
    old += slice_sum(a.slices[k]);
  }
  EXPECT_GT(recent, 5 * old);
  // More particles: more non-zeros, about the same totals.
  SynthFootprintParams dense = p;
  dense.particles = 4 * p.particles;
  const auto d = make_footprint(dense, st, t13, 42);
  std::size_t nnz_a = 0, nnz_d = 0;
  double sum_a = 0, sum_d = 0;
  for (const auto& s : a.slices)
    nnz_a += s.resp.size(), sum_a += slice_sum(s);
  for (const auto& s : d.slices)
    nnz_d += s.resp.size(), sum_d += slice_sum(s);
  EXPECT_GT(nnz_d, 2 * nnz_a);
  EXPECT_NEAR(sum_d / sum_a, 1.0, 0.25);
}

}  // namespace
}  // namespace fluxkit::synth
