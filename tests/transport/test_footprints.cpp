// Tests for the footprint readers (fluxkit::transport::FootprintFile, spec transport.md §5, §11): small files
// in each format are written here with the HDF5 C API (legacy, lumia_v2, as h5py lays them out) and the
// netCDF-C API (STILT, netCDF-4), then read back: keys, slice times and order, junk "start_end" groups, index
// fallback names, empty slices, the lumia_v2 unit factor, STILT's CSR rows and coordinates, auto-detection
// and every error (missing key, unequal lengths, corrupt or missing file).
#include "fluxkit/transport/footprint.hpp"

#include <gtest/gtest.h>

#include <hdf5.h>
#include <netcdf.h>
#include <unistd.h>
#include "common/temp_dir.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/flux_file.hpp"

namespace fluxkit::transport {
namespace {

namespace fs = std::filesystem;

struct TempDir : fluxkit::testing::TempDir {
  TempDir() : fluxkit::testing::TempDir("fluxkit_test_footprints") {}
};

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

std::int64_t T(int y, int m, int d, int h, int mi = 0, int s = 0) {
  return fluxkit::cftime::civil_to_epoch_seconds({y, m, d, h, mi, s});
}

// ---- writing HDF5 files the way h5py does
// -------------------------------------------------------------------

class H5Out {
 public:
  explicit H5Out(const fs::path& path) {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(file_, 0);
    lcpl_ = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl_, 1);
  }
  ~H5Out() {
    H5Pclose(lcpl_);
    H5Fclose(file_);
  }
  H5Out(const H5Out&) = delete;
  H5Out& operator=(const H5Out&) = delete;
  hid_t id() const { return file_; }

  void group(const std::string& path) {
    H5Gclose(H5Gcreate2(file_, path.c_str(), lcpl_, H5P_DEFAULT, H5P_DEFAULT));
  }
  template <class T>
  void dataset(const std::string& path, const std::vector<T>& data, hid_t file_type, hid_t mem_type) {
    const hsize_t n = data.size();
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(file_, path.c_str(), file_type, space, lcpl_, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(ds, 0) << path;
    if (n > 0) {
      ASSERT_GE(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
    }
    H5Dclose(ds);
    H5Sclose(space);
  }
  void floats(const std::string& path, const std::vector<float>& v) {
    dataset(path, v, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT);
  }
  void doubles(const std::string& path, const std::vector<double>& v) {
    dataset(path, v, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
  }
  void ints(const std::string& path, const std::vector<std::int32_t>& v) {
    dataset(path, v, H5T_STD_I32LE, H5T_NATIVE_INT32);
  }
  // h5py writes str attributes as variable-length UTF-8 strings; fixed-length ones come from other tools.
  void text_attribute(const std::string& name, const std::string& value, bool variable_length) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    const hid_t space = H5Screate(H5S_SCALAR);
    if (variable_length) {
      H5Tset_size(type, H5T_VARIABLE);
      H5Tset_cset(type, H5T_CSET_UTF8);
    } else {
      H5Tset_size(type, value.size());
    }
    const hid_t a = H5Acreate2(file_, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char* p = value.c_str();
    if (variable_length)
      H5Awrite(a, type, &p);
    else
      H5Awrite(a, type, p);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
  }
  void number_attribute(const std::string& name, double value, hid_t file_type) {
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(file_, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &value);
    H5Aclose(a);
    H5Sclose(space);
  }

 private:
  hid_t file_ = -1, lcpl_ = -1;
};

struct Cells {
  std::vector<float> resp;
  std::vector<std::int32_t> ilat, ilon;
};

void legacy_slice(H5Out& h5, const std::string& group, const Cells& c, bool fallback_names = false) {
  h5.group(group);
  h5.floats(group + "/resp", c.resp);
  h5.ints(group + (fallback_names ? "/ilat" : "/ilats"), c.ilat);
  h5.ints(group + (fallback_names ? "/ilon" : "/ilons"), c.ilon);
}

// A legacy file like LUMIA's nor.100m.2017-01.h5: latitudes/longitudes, footprints with 3-hour slices, one
// junk start_end group each, an empty slice; one footprint with the ilat/ilon fallback names.
void write_legacy(const fs::path& path) {
  H5Out h5(path);
  h5.doubles("latitudes", {54.25, 54.75, 55.25, 55.75});
  h5.doubles("longitudes", {0.25, 0.75, 1.25, 1.75, 2.25});
  const std::string a = "20170131110000";
  legacy_slice(h5, a + "/20170131120000_20170131090000", {{1.0f, 0.5f, 0.25f}, {0, 1, 3}, {4, 2, 0}});
  legacy_slice(h5, a + "/20170131090000_20170131060000", {{0.125f, 2.0f}, {2, 2}, {1, 3}});
  legacy_slice(h5, a + "/20170131060000_20170131030000", {{}, {}, {}});                  // empty slice
  legacy_slice(h5, a + "/20170131060000_20170131090000", {{9.f, 9.f}, {9, 9}, {9, 9}});  // start_end junk
  const std::string b = "20170131120000";
  legacy_slice(h5, b + "/20170131150000_20170131120000", {{3.0f}, {1}, {1}}, true);
  legacy_slice(h5, b + "/20170131120000_20170131090000", {{4.0f, 5.0f}, {2, 3}, {3, 4}}, true);
  legacy_slice(h5, b + "/20170131090000_20170131120000", {{}, {}, {}}, true);  // junk
}

// ---- legacy
// ---------------------------------------------------------------------------------------------------

TEST(LegacyFootprints, KeysSlicesOrderAndJunkGroups) {
  TempDir dir;
  const auto path = dir / "nor.100m.2017-01.h5";
  write_legacy(path);
  const auto file = open_footprint_file(path);
  EXPECT_EQ(file->format(), "legacy");
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->keys(), (std::vector<std::string>{"20170131110000", "20170131120000"}));
  EXPECT_TRUE(file->contains("20170131110000"));
  EXPECT_FALSE(file->contains("20170131130000"));
  EXPECT_FALSE(file->contains("latitudes"));
  EXPECT_EQ(file->key_at(T(2017, 1, 31, 12)), "20170131120000");
  EXPECT_EQ(file->key_at(T(2017, 1, 31, 13)), std::nullopt);

  const Footprint fp = file->read("20170131110000");
  EXPECT_EQ(fp.key, "20170131110000");
  ASSERT_EQ(fp.slices.size(), 3u);  // the start_end group is skipped
  EXPECT_EQ(fp.slices[0].start, T(2017, 1, 31, 3));
  EXPECT_EQ(fp.slices[0].end, T(2017, 1, 31, 6));
  EXPECT_TRUE(fp.slices[0].resp.empty());
  EXPECT_TRUE(fp.slices[0].ilat.empty());
  EXPECT_EQ(fp.slices[1].start, T(2017, 1, 31, 6));
  EXPECT_EQ(fp.slices[1].end, T(2017, 1, 31, 9));
  EXPECT_EQ(fp.slices[1].resp, (std::vector<float>{0.125f, 2.0f}));
  EXPECT_EQ(fp.slices[2].start, T(2017, 1, 31, 9));
  EXPECT_EQ(fp.slices[2].end, T(2017, 1, 31, 12));  // the last slice contains the obs time
  EXPECT_EQ(fp.slices[2].resp, (std::vector<float>{1.0f, 0.5f, 0.25f}));
  EXPECT_EQ(fp.slices[2].ilat, (std::vector<std::int32_t>{0, 1, 3}));
  EXPECT_EQ(fp.slices[2].ilon, (std::vector<std::int32_t>{4, 2, 0}));
  EXPECT_EQ(fp.nonzeros(), 5u);

  const auto grid = file->grid();
  ASSERT_TRUE(grid.has_value());
  EXPECT_EQ(grid->lats, (std::vector<double>{54.25, 54.75, 55.25, 55.75}));
  EXPECT_EQ(grid->lons.size(), 5u);
}

TEST(LegacyFootprints, FallbackIndexNamesAndBufferReuse) {
  TempDir dir;
  const auto path = dir / "fp.h5";
  write_legacy(path);
  const auto file = open_footprint_file(path, "legacy");
  Footprint fp;
  for (int pass = 0; pass < 2; ++pass) {    // alternate the index names, reusing the same Footprint
    file->read_into("20170131120000", fp);  // ilat/ilon
    ASSERT_EQ(fp.slices.size(), 2u);
    EXPECT_EQ(fp.key, "20170131120000");
    EXPECT_EQ(fp.slices[0].start, T(2017, 1, 31, 9));
    EXPECT_EQ(fp.slices[0].ilat, (std::vector<std::int32_t>{2, 3}));
    EXPECT_EQ(fp.slices[0].ilon, (std::vector<std::int32_t>{3, 4}));
    EXPECT_EQ(fp.slices[1].start, T(2017, 1, 31, 12));
    EXPECT_EQ(fp.slices[1].end, T(2017, 1, 31, 15));
    EXPECT_EQ(fp.slices[1].resp, (std::vector<float>{3.0f}));
    file->read_into("20170131110000", fp);
    ASSERT_EQ(fp.slices.size(), 3u);
    EXPECT_EQ(fp.slices[2].ilat, (std::vector<std::int32_t>{0, 1, 3}));
    EXPECT_TRUE(fp.slices[0].resp.empty());
  }
}

TEST(LegacyFootprints, Errors) {
  TempDir dir;
  const auto path = dir / "bad.h5";
  {
    H5Out h5(path);
    legacy_slice(h5, "20180101030000/20180101030000_20180101000000", {{1.f}, {0}, {0}});
    legacy_slice(h5, "20180101040000/20180101030000_20180101000000", {{1.f, 2.f}, {0}, {0, 1}});  // unequal
    h5.group("20180101050000/20180101030000_20180101000000");
    h5.floats("20180101050000/20180101030000_20180101000000/resp", {1.f});  // no indices at all
    h5.ints("20180101050000/20180101030000_20180101000000/ilats", {1});
    legacy_slice(h5, "20180101060000/20180101030000_2018010100", {{1.f}, {0}, {0}});  // malformed name
  }
  const auto file = open_footprint_file(path);
  EXPECT_EQ(file->format(), "legacy");
  EXPECT_EQ(file->read("20180101030000").nonzeros(), 1u);
  expect_file_error(
      [&] { file->read("20180101040000"); },
      {path.string(), "20180101040000/20180101030000_20180101000000", "unequal lengths", "ilats 1"});
  expect_file_error([&] { file->read("20180101050000"); },
                    {path.string(), "20180101050000/20180101030000_20180101000000/ilons", "missing"});
  expect_file_error([&] { file->read("20180101060000"); }, {path.string(), "20180101030000_2018010100"});
  expect_file_error([&] { file->read("20180101070000"); },
                    {path.string(), "20180101070000", "not in the file"});
  // The file stays usable after errors.
  EXPECT_EQ(file->read("20180101030000").slices.at(0).start, T(2018, 1, 1, 0));
}

TEST(FootprintFiles, MissingCorruptAndUnknownFiles) {
  TempDir dir;
  expect_file_error([&] { open_footprint_file(dir / "absent.h5"); }, {"absent.h5", "no such"});
  expect_file_error([&] { open_footprint_file(dir / "absent.h5", "legacy"); }, {"absent.h5", "no such"});

  const auto garbage = dir / "garbage.h5";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int k = 0; k < 4096; ++k)
      out.put(static_cast<char>((k * 7919) & 0xff));
  }
  expect_file_error([&] { open_footprint_file(garbage); }, {garbage.string(), "corrupt"});
  expect_file_error([&] { open_footprint_file(garbage, "legacy"); }, {garbage.string(), "corrupt"});
  expect_file_error([&] { open_footprint_file(garbage, "stilt"); }, {garbage.string(), "corrupt"});

  // A truncated HDF5 file: an error naming the file, on open or on read, never a crash.
  const auto full = dir / "full.h5";
  write_legacy(full);
  const auto truncated = dir / "truncated.h5";
  fs::copy_file(full, truncated);
  fs::resize_file(truncated, fs::file_size(full) / 2);
  try {
    const auto f = open_footprint_file(truncated, "legacy");
    for (const auto& k : f->keys())
      (void)f->read(k);
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find(truncated.string()), std::string::npos) << e.what();
  }

  // netCDF-3: named as such.
  const auto classic = dir / "classic.nc";
  int nc = -1;
  ASSERT_EQ(nc_create(classic.c_str(), NC_CLOBBER, &nc), NC_NOERR);
  ASSERT_EQ(nc_close(nc), NC_NOERR);
  expect_file_error([&] { open_footprint_file(classic); }, {classic.string(), "netCDF-3"});

  // HDF5, but not a footprint file (a flux file).
  FluxFile flux;
  FluxCategory c;
  c.name = "biosphere";
  c.nt = c.nlat = c.nlon = 1;
  c.emis = {1.0};
  c.times_start = {TimeStamp{2018, 1, 1, 0, 0, 0}};
  c.times_end = {TimeStamp{2018, 1, 1, 3, 0, 0}};
  c.lats = {50.f};
  c.lons = {10.f};
  flux.categories.push_back(c);
  const auto emis = dir / "emis.nc";
  flux.write(emis);
  expect_file_error([&] { open_footprint_file(emis); }, {emis.string(), "not a recognised footprint file"});
  expect_file_error([&] { open_footprint_file(full, "flexpart"); },
                    {full.string(), "unknown footprint format", "legacy, lumia_v2, stilt"});
}

TEST(FootprintFiles, LegacyKey) {
  EXPECT_EQ(legacy_key(T(2017, 1, 31, 14)), "20170131140000");
  EXPECT_EQ(legacy_key(T(2018, 12, 1, 3, 4, 5)), "20181201030405");
  EXPECT_EQ(legacy_key(0), "19700101000000");
}

// ---- lumia_v2
// ---------------------------------------------------------------------------------------------------

void write_lumia_v2(const fs::path& path, bool variable_length_start, hid_t tres_type) {
  H5Out h5(path);
  h5.text_attribute("start", "2018-01-01 00:00:00", variable_length_start);
  h5.number_attribute("tres", 3600.0, tres_type);
  h5.doubles("latitudes", {43.25, 43.75, 44.25});
  h5.doubles("longitudes", {-9.75, -9.25});
  const std::string g = "ses.100m.20180103-120000";
  h5.ints(g + "/itims", {5, 3, 5, 4, 3});
  h5.ints(g + "/ilats", {0, 1, 2, 0, 2});
  h5.ints(g + "/ilons", {1, 0, 1, 1, 1});
  h5.floats(g + "/sensi", {1000.f, 20.f, 3.f, 0.5f, 7.25f});
  const std::string e = "ses.100m.20180103-130000";
  h5.ints(e + "/itims", {});
  h5.ints(e + "/ilats", {});
  h5.ints(e + "/ilons", {});
  h5.floats(e + "/sensi", {});
  const std::string bad = "ses.100m.20180103-140000";
  h5.ints(bad + "/itims", {1, 2});
  h5.ints(bad + "/ilats", {1, 2});
  h5.ints(bad + "/ilons", {1});
  h5.floats(bad + "/sensi", {1.f, 2.f});
  const std::string missing = "ses.100m.20180103-150000";
  h5.ints(missing + "/itims", {1});
  h5.ints(missing + "/ilats", {1});
  h5.ints(missing + "/ilons", {1});
}

TEST(LumiaV2Footprints, TimeSlicesFromItimsAndUnitFactor) {
  TempDir dir;
  for (const bool vlen : {true, false}) {
    const auto path = dir / fmt::format("ses.100m.2018-01{}.hdf", vlen ? "" : "-fixed");
    write_lumia_v2(path, vlen, vlen ? H5T_IEEE_F64LE : H5T_STD_I32LE);
    const auto file = open_footprint_file(path);
    EXPECT_EQ(file->format(), "lumia_v2");
    EXPECT_EQ(file->keys(),
              (std::vector<std::string>{"ses.100m.20180103-120000", "ses.100m.20180103-130000",
                                        "ses.100m.20180103-140000", "ses.100m.20180103-150000"}));
    EXPECT_EQ(file->key_at(T(2018, 1, 3, 12)), "ses.100m.20180103-120000");
    EXPECT_EQ(file->key_at(T(2018, 1, 3, 11)), std::nullopt);

    const Footprint fp = file->read("ses.100m.20180103-120000");
    ASSERT_EQ(fp.slices.size(), 3u);
    const std::int64_t origin = T(2018, 1, 1, 0);
    for (std::size_t s = 0; s < 3; ++s) {
      EXPECT_EQ(fp.slices[s].start, origin + static_cast<std::int64_t>(3 + s) * 3600);
      EXPECT_EQ(fp.slices[s].end, fp.slices[s].start + 3600);
    }
    // LUMIA: float32 sensi * 0.0002897, evaluated in float32.
    const float k = static_cast<float>(kSensiToPpm);
    EXPECT_EQ(fp.slices[0].resp, (std::vector<float>{20.f * k, 7.25f * k}));  // itim 3, file order
    EXPECT_EQ(fp.slices[0].ilat, (std::vector<std::int32_t>{1, 2}));
    EXPECT_EQ(fp.slices[0].ilon, (std::vector<std::int32_t>{0, 1}));
    EXPECT_EQ(fp.slices[1].resp, (std::vector<float>{0.5f * k}));             // itim 4
    EXPECT_EQ(fp.slices[2].resp, (std::vector<float>{1000.f * k, 3.f * k}));  // itim 5
    EXPECT_EQ(fp.slices[2].ilat, (std::vector<std::int32_t>{0, 2}));
    EXPECT_NEAR(fp.slices[2].resp[0], 0.2897, 1e-7);

    EXPECT_TRUE(file->read("ses.100m.20180103-130000").slices.empty());
    expect_file_error([&] { file->read("ses.100m.20180103-140000"); },
                      {path.string(), "ses.100m.20180103-140000", "unequal lengths", "ilons 1"});
    expect_file_error([&] { file->read("ses.100m.20180103-150000"); },
                      {path.string(), "ses.100m.20180103-150000/sensi", "missing"});
    expect_file_error([&] { file->read("latitudes"); }, {path.string(), "not in the file"});
    ASSERT_TRUE(file->grid().has_value());
    EXPECT_EQ(file->grid()->lons, (std::vector<double>{-9.75, -9.25}));
  }
}

TEST(LumiaV2Footprints, LargeItimRangeAndBadAttributes) {
  TempDir dir;
  const auto path = dir / "sparse.hdf";
  {
    H5Out h5(path);
    h5.text_attribute("start", "2018-01-01 00:00:00", true);
    h5.number_attribute("tres", 10800.0, H5T_IEEE_F64LE);
    h5.ints("a.1m.20180101-000000/itims", {1000000, -2, 1000000, -2});  // sparse range: sort path
    h5.ints("a.1m.20180101-000000/ilats", {1, 2, 3, 4});
    h5.ints("a.1m.20180101-000000/ilons", {5, 6, 7, 8});
    h5.floats("a.1m.20180101-000000/sensi", {1.f, 2.f, 3.f, 4.f});
  }
  const Footprint fp = open_footprint_file(path)->read("a.1m.20180101-000000");
  ASSERT_EQ(fp.slices.size(), 2u);
  EXPECT_EQ(fp.slices[0].start, T(2018, 1, 1, 0) - 2 * 10800);
  EXPECT_EQ(fp.slices[0].ilat, (std::vector<std::int32_t>{2, 4}));
  EXPECT_EQ(fp.slices[1].start, T(2018, 1, 1, 0) + 1000000LL * 10800);
  EXPECT_EQ(fp.slices[1].ilon, (std::vector<std::int32_t>{5, 7}));

  const auto bad = dir / "bad_start.hdf";
  {
    H5Out h5(bad);
    h5.text_attribute("start", "2018-01-01T00:00", true);
    h5.number_attribute("tres", 3600.0, H5T_IEEE_F64LE);
  }
  expect_file_error([&] { open_footprint_file(bad); }, {bad.string(), "start", "2018-01-01T00:00"});
  const auto bad_tres = dir / "bad_tres.hdf";
  {
    H5Out h5(bad_tres);
    h5.text_attribute("start", "2018-01-01 00:00:00", true);
    h5.number_attribute("tres", 0.5, H5T_IEEE_F64LE);
  }
  expect_file_error([&] { open_footprint_file(bad_tres); }, {bad_tres.string(), "tres"});
}

// ---- STILT
// ------------------------------------------------------------------------------------------------------

constexpr double kLatLL = 33.0, kLonLL = -15.0, kLatRes = 1.0 / 12.0, kLonRes = 0.125;

struct StiltFootprint {
  std::string tag;  // YYYYmmddHH
  std::vector<double> indptr;
  std::vector<int> ilat, ilon;  // cells on the STILT grid
  std::vector<float> val;
};

void nc_ok(int status) {
  ASSERT_EQ(status, NC_NOERR) << nc_strerror(status);
}

void write_stilt(const fs::path& path, const std::vector<StiltFootprint>& fps) {
  int nc = -1;
  nc_ok(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &nc));
  const std::string receptor = "Station: HTM; Lat: 56.10; Lon: 13.42";
  nc_ok(nc_put_att_text(nc, NC_GLOBAL, "Footprints_receptor", receptor.size(), receptor.data()));
  nc_ok(nc_put_att_text(nc, NC_GLOBAL, "sampling_height", 5, "150 m"));
  nc_ok(nc_put_att_text(nc, NC_GLOBAL, "Filename", 17, "footprint_HTM_150"));
  nc_ok(nc_put_att_double(nc, NC_GLOBAL, "lon_ll", NC_DOUBLE, 1, &kLonLL));
  nc_ok(nc_put_att_double(nc, NC_GLOBAL, "lat_ll", NC_DOUBLE, 1, &kLatLL));
  nc_ok(nc_put_att_double(nc, NC_GLOBAL, "lon_res", NC_DOUBLE, 1, &kLonRes));
  nc_ok(nc_put_att_double(nc, NC_GLOBAL, "lat_res", NC_DOUBLE, 1, &kLatRes));
  const int nx = 400, ny = 480;
  nc_ok(nc_put_att_int(nc, NC_GLOBAL, "numpix_x", NC_INT, 1, &nx));
  nc_ok(nc_put_att_int(nc, NC_GLOBAL, "numpix_y", NC_INT, 1, &ny));
  for (const auto& fp : fps) {
    int dn = -1, dr = -1, vval = -1, vlat = -1, vlon = -1, vptr = -1;
    nc_ok(nc_def_dim(nc, ("n_" + fp.tag).c_str(), std::max<std::size_t>(fp.val.size(), 1), &dn));
    nc_ok(nc_def_dim(nc, ("r_" + fp.tag).c_str(), fp.indptr.size(), &dr));
    const std::string stem = "ftp_" + fp.tag;
    nc_ok(nc_def_var(nc, (stem + "_val").c_str(), NC_FLOAT, 1, &dn, &vval));
    nc_ok(nc_def_var(nc, (stem + "_lat").c_str(), NC_FLOAT, 1, &dn, &vlat));
    nc_ok(nc_def_var(nc, (stem + "_lon").c_str(), NC_FLOAT, 1, &dn, &vlon));
    nc_ok(nc_def_var(nc, (stem + "_indptr").c_str(), NC_DOUBLE, 1, &dr, &vptr));
    const double fill = std::nan("");
    nc_ok(nc_def_var_fill(nc, vptr, 0, &fill));
    if (fp.val.empty()) continue;
    std::vector<float> lat, lon;  // lower-left corners, stored as float32
    for (std::size_t k = 0; k < fp.ilat.size(); ++k) {
      lat.push_back(static_cast<float>(kLatLL + fp.ilat[k] * kLatRes));
      lon.push_back(static_cast<float>(kLonLL + fp.ilon[k] * kLonRes));
    }
    nc_ok(nc_put_var_float(nc, vval, fp.val.data()));
    nc_ok(nc_put_var_float(nc, vlat, lat.data()));
    nc_ok(nc_put_var_float(nc, vlon, lon.data()));
    nc_ok(nc_put_var_double(nc, vptr, fp.indptr.data()));
  }
  nc_ok(nc_close(nc));
}

TEST(StiltFootprints, CsrRowsAndCoordinates) {
  TempDir dir;
  const auto path = dir / "footprint_HTM150_201801.nc";
  const double nan = std::nan("");
  write_stilt(
      path,
      {
          // rows: 0 -> 2 cells, 1 -> empty, 2 -> 3 cells
          {"2018010312", {0, 2, 2, 5}, {0, 479, 100, 101, 7}, {0, 399, 50, 51, 3}, {1.f, 2.f, 3.f, 4.f, 5.f}},
          {"2018010313", {nan, nan, nan}, {}, {}, {}},   // fully masked: dropped
          {"2018010314", {0, nan, 1}, {1}, {1}, {1.f}},  // partially masked: an error
          {"2018010315", {0, 1, 3}, {5}, {5}, {1.f}},    // indptr does not end at n
      });
  const auto file = open_footprint_file(path);
  EXPECT_EQ(file->format(), "stilt");
  EXPECT_EQ(file->keys(), (std::vector<std::string>{"20180103120000", "20180103140000", "20180103150000"}));
  EXPECT_EQ(file->key_at(T(2018, 1, 3, 12)), "20180103120000");
  EXPECT_EQ(file->key_at(T(2018, 1, 3, 13)), std::nullopt);

  const Footprint fp = file->read("20180103120000");
  ASSERT_EQ(fp.slices.size(), 2u);
  // Row r covers [obs - r h, obs - r h + 1 h); the earliest (row 2) first.
  const std::int64_t obs = T(2018, 1, 3, 12);
  EXPECT_EQ(fp.slices[0].start, obs - 2 * 3600);
  EXPECT_EQ(fp.slices[0].end, obs - 3600);
  EXPECT_EQ(fp.slices[0].resp, (std::vector<float>{3.f, 4.f, 5.f}));
  EXPECT_EQ(fp.slices[0].ilat, (std::vector<std::int32_t>{100, 101, 7}));
  EXPECT_EQ(fp.slices[0].ilon, (std::vector<std::int32_t>{50, 51, 3}));
  EXPECT_EQ(fp.slices[1].start, obs);
  EXPECT_EQ(fp.slices[1].end, obs + 3600);
  EXPECT_EQ(fp.slices[1].ilat, (std::vector<std::int32_t>{0, 479}));  // grid corners
  EXPECT_EQ(fp.slices[1].ilon, (std::vector<std::int32_t>{0, 399}));
  EXPECT_EQ(fp.nonzeros(), 5u);

  expect_file_error([&] { file->read("20180103140000"); },
                    {path.string(), "ftp_2018010314_indptr", "masked"});
  expect_file_error([&] { file->read("20180103150000"); },
                    {path.string(), "ftp_2018010315_indptr", "ends at 3"});
  expect_file_error([&] { file->read("20180103130000"); },
                    {path.string(), "20180103130000", "not in the file"});

  const auto grid = file->grid();
  ASSERT_TRUE(grid.has_value());
  ASSERT_EQ(grid->lats.size(), 480u);
  ASSERT_EQ(grid->lons.size(), 400u);
  EXPECT_DOUBLE_EQ(grid->lats[0], kLatLL + kLatRes / 2);
  EXPECT_DOUBLE_EQ(grid->lons[399], kLonLL + 399.5 * kLonRes);
}

TEST(StiltFootprints, MissingGridAttribute) {
  TempDir dir;
  const auto path = dir / "stilt_no_grid.nc";
  int nc = -1;
  nc_ok(nc_create(path.c_str(), NC_NETCDF4 | NC_CLOBBER, &nc));
  nc_ok(nc_put_att_text(nc, NC_GLOBAL, "Footprints_receptor", 12, "Station: HTM"));
  nc_ok(nc_close(nc));
  expect_file_error([&] { open_footprint_file(path); }, {path.string(), "lon_ll", "missing"});
}

// ---- detection and registry
// -----------------------------------------------------------------------------------

class FakeFile : public FootprintFile {
 public:
  explicit FakeFile(fs::path p) : path_(std::move(p)) {}
  std::string format() const override { return "fake"; }
  const fs::path& path() const override { return path_; }
  const std::vector<std::string>& keys() const override { return keys_; }
  bool contains(std::string_view key) const override { return key == keys_[0]; }
  Footprint read(std::string_view key) const override {
    Footprint fp;
    fp.key = std::string(key);
    fp.slices.resize(1);
    fp.slices[0].resp = {1.f};
    fp.slices[0].ilat = {0};
    fp.slices[0].ilon = {0};
    return fp;
  }

 private:
  fs::path path_;
  std::vector<std::string> keys_{"19700101000000"};
};

TEST(FootprintFiles, DetectionOfEachFormatAndCustomFormats) {
  TempDir dir;
  write_legacy(dir / "a.h5");
  write_lumia_v2(dir / "b.hdf", true, H5T_IEEE_F64LE);
  write_stilt(dir / "c.nc", {{"2018010312", {0, 1}, {1}, {1}, {1.f}}});
  EXPECT_EQ(open_footprint_file(dir / "a.h5")->format(), "legacy");
  EXPECT_EQ(open_footprint_file(dir / "b.hdf")->format(), "lumia_v2");
  EXPECT_EQ(open_footprint_file(dir / "c.nc")->format(), "stilt");
  // An empty legacy file (coordinates only) is still legacy.
  {
    H5Out h5(dir / "empty.h5");
    h5.doubles("latitudes", {1.0});
    h5.doubles("longitudes", {1.0});
  }
  const auto empty = open_footprint_file(dir / "empty.h5");
  EXPECT_EQ(empty->format(), "legacy");
  EXPECT_TRUE(empty->keys().empty());

  // A format registered by name, with its own detector, for files the built-in readers do not claim.
  register_footprint_format(
      "fake", [](const fs::path& p) { return std::make_unique<FakeFile>(p); },
      [](const fs::path& p) { return p.extension() == ".fake"; });
  const auto fake_path = dir / "x.fake";
  std::ofstream(fake_path) << "fake";
  const auto fake = open_footprint_file(fake_path);
  EXPECT_EQ(fake->format(), "fake");
  EXPECT_EQ(fake->key_at(0), "19700101000000");  // default key_at: legacy keys
  Footprint fp;
  fake->read_into("19700101000000", fp);  // default read_into: read()
  EXPECT_EQ(fp.nonzeros(), 1u);
  EXPECT_EQ(open_footprint_file(dir / "a.h5", "fake")->format(), "fake");
  const auto formats = footprint_formats();
  EXPECT_EQ(formats, (std::vector<std::string>{"legacy", "lumia_v2", "stilt", "fake"}));
  register_builtin_footprint_formats();  // idempotent
  EXPECT_EQ(footprint_formats().size(), 4u);
}

TEST(FootprintFiles, ConcurrentReads) {
  TempDir dir;
  const auto path = dir / "fp.h5";
  write_legacy(path);
  const auto file = open_footprint_file(path);
  const std::size_t want = file->read("20170131110000").nonzeros();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Footprint fp;
      for (int k = 0; k < 200; ++k) {
        file->read_into(k % 2 ? "20170131110000" : "20170131120000", fp);
        if (k % 2 && fp.nonzeros() == want) ++ok[static_cast<std::size_t>(t)];
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(ok, (std::vector<int>{100, 100, 100, 100}));
}

}  // namespace
}  // namespace fluxkit::transport
