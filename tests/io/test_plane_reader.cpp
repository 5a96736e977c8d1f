#include <gtest/gtest.h>

#include <netcdf.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/io/netcdf.hpp"
#include "fluxkit/io/plane_reader.hpp"
#include "fluxkit/synth/ocean.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

// Every value equal, NaN where the other is NaN.
void expect_same(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  std::size_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) ++diff;
  EXPECT_EQ(diff, 0u) << what;
}

// Reads the same rows through nc::File and the plane reader, for every time step and a few row ranges.
void compare(const fs::path& path, const std::vector<std::string>& vars, bool expect_direct, int threads) {
  const nc::PlaneReader reader(path, vars);
  EXPECT_EQ(reader.direct(), expect_direct) << path;
  Context ctx;
  ctx.threads = threads;
  const nc::File f(path);
  std::vector<std::vector<float>> got;
  const std::size_t ny = reader.ny();
  for (auto [y0, y1] :
       std::vector<std::pair<std::size_t, std::size_t>>{{0, ny}, {1, ny / 2 + 1}, {ny - 1, ny}})
    for (std::size_t t = 0; t < reader.times(); ++t) {
      reader.read(t, y0, y1, got, ctx);
      for (std::size_t v = 0; v < vars.size(); ++v) {
        const std::size_t start[3] = {t, y0, 0}, count[3] = {1, y1 - y0, reader.nx()};
        expect_same(got[v], f.read_float(vars[v], start, count),
                    fmt::format("{} {} t={} rows [{}, {})", path.filename().string(), vars[v], t, y0, y1));
      }
    }
}

class PlaneReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("fluxkit_plane_reader_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* grid : {"regular", "orca"}) {
      synth::SynthOceanParams p;
      p.output_dir = (root_ / grid).string();
      p.experiments = {"experiment_1"};
      p.start_year = p.end_year = 2001;
      p.resolution = 10.0;
      p.grid = grid;
      Context ctx;
      synth::generate_ocean(p, ctx, kProv);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static fs::path synth_file(const char* grid) {
    return root_ / grid / "experiment_1" / "ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002.hind_2001.nc";
  }

  // A file with tiled chunks (1, 7, 9) over a 20 x 25 grid, a _FillValue used in the data, one chunk never
  // written; `format` NC_NETCDF4 or NC_CLASSIC_MODEL; `chunked` false = contiguous.
  static fs::path write_file(const std::string& name, int format, bool chunked, bool shuffle, int deflate) {
    const fs::path p = root_ / name;
    int nc, dims[3], var, var2;
    EXPECT_EQ(nc_create(p.c_str(), NC_CLOBBER | format, &nc), NC_NOERR);
    nc_def_dim(nc, "time_counter", 3, &dims[0]);
    nc_def_dim(nc, "y", 20, &dims[1]);
    nc_def_dim(nc, "x", 25, &dims[2]);
    nc_def_var(nc, "a", NC_FLOAT, 3, dims, &var);
    nc_def_var(nc, "b", NC_FLOAT, 3, dims, &var2);
    const float fill = -999.f, missing = 1e20f;
    nc_put_att_float(nc, var, "_FillValue", NC_FLOAT, 1, &fill);
    nc_put_att_float(nc, var2, "missing_value", NC_FLOAT, 1, &missing);
    if (format & NC_NETCDF4) {
      for (int v : {var, var2}) {
        if (chunked) {
          const std::size_t chunk[3] = {1, 7, 9};
          nc_def_var_chunking(nc, v, NC_CHUNKED, chunk);
          nc_def_var_deflate(nc, v, shuffle ? 1 : 0, deflate > 0 ? 1 : 0, deflate);
        } else {
          nc_def_var_chunking(nc, v, NC_CONTIGUOUS, nullptr);
        }
      }
    }
    nc_enddef(nc);
    std::vector<float> a(20 * 25), b(20 * 25);
    for (std::size_t t = 0; t < 3; ++t) {
      for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<float>(std::sin(0.1 * static_cast<double>(i) + static_cast<double>(t)) * 10);
        b[i] = static_cast<float>(i) * 0.5f - static_cast<float>(t);
      }
      a[3] = -999.f;
      a[50] = std::numeric_limits<float>::infinity();
      b[7] = 1e20f;
      const std::size_t start[3] = {t, 0, 0}, count[3] = {1, 20, 25};
      nc_put_vara_float(nc, var2, start, count, b.data());
      if (t == 1) {
        // only rows 0..13 of "a": the chunks of rows 14..19 are never written (fill value)
        const std::size_t c2[3] = {1, 14, 25};
        nc_put_vara_float(nc, var, start, c2, a.data());
      } else {
        nc_put_vara_float(nc, var, start, count, a.data());
      }
    }
    nc_close(nc);
    return p;
  }

  static inline fs::path root_;
};

const std::vector<std::string> kVars = {"SST",      "SAL",        "ice_frac",   "mixed_layer_depth",
                                        "stress_X", "currents_Y", "co2flux_pre"};

TEST_F(PlaneReaderTest, SyntheticFilesReadDirectlyAndEqualNetcdf) {
  compare(synth_file("regular"), kVars, true, 1);
  compare(synth_file("regular"), kVars, true, 3);
  // ORCA traps: land filled with 0 (no fill attribute) in the drivers and 1e20 (missing_value) in the target
  compare(synth_file("orca"), kVars, true, 2);
}

TEST_F(PlaneReaderTest, TiledChunksFillValuesAndUnwrittenChunks) {
  compare(write_file("tiled.nc", NC_NETCDF4, true, true, 4), {"a", "b"}, true, 2);
  compare(write_file("deflate_only.nc", NC_NETCDF4, true, false, 1), {"a", "b"}, true, 1);
  compare(write_file("no_filters.nc", NC_NETCDF4, true, false, 0), {"a", "b"}, true, 2);
}

TEST_F(PlaneReaderTest, OtherLayoutsGoThroughNetcdf) {
  compare(write_file("contiguous.nc", NC_NETCDF4, false, false, 0), {"a", "b"}, false, 2);
  compare(write_file("classic.nc", 0, false, false, 0), {"a", "b"}, false, 2);
}

TEST_F(PlaneReaderTest, Errors) {
  auto open = [](const std::vector<std::string>& vars) { nc::PlaneReader r(synth_file("regular"), vars); };
  EXPECT_THROW(open({"no_such_variable"}), FileError);
  EXPECT_THROW(open({"nav_lat"}), FileError);  // (y, x): not a field
  const nc::PlaneReader r(synth_file("regular"), {"SST"});
  std::vector<std::vector<float>> out;
  EXPECT_THROW(r.read(12, 0, 1, out, Context{}), Error);
  EXPECT_THROW(r.read(0, 3, 3, out, Context{}), Error);
}

}  // namespace
}  // namespace fluxkit
