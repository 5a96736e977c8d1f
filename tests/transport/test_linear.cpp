// LinearTransport: the operator on flat vectors (transport/linear.hpp) on a small synthetic case: layout,
// exact transposes, files and packed operator equal, forward equal to the transport run's column, bad
// lengths.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fluxkit/core/error.hpp"
#include "fluxkit/synth/footprints.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/linear.hpp"
#include "fluxkit/transport/obsdb.hpp"
#include "fluxkit/transport/run.hpp"

namespace fs = std::filesystem;
using namespace fluxkit;
using namespace fluxkit::transport;

namespace {

class LinearTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("fluxkit_linear_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    synth::SynthFootprintParams p;
    p.output_dir = dir_->string();
    p.observations = 30;
    p.stations = {"NOR:60.09:17.48:100:46", "HTM:56.10:13.42:150", "CBW:51.97:4.93:207:0"};
    p.start = "2018-01-31";
    p.days = 2;
    p.min_back_days = 2;
    p.max_back_days = 3;
    p.particles = 150;
    Context ctx;
    ctx.threads = 2;
    summary_ = new synth::SynthFootprintSummary(synth::generate_footprints(p, ctx));
    pack(summary_->rc_file, summary_->obsdb, *dir_ / "op.fkop", "", true, ctx);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete summary_;
    delete dir_;
  }
  static LinearOptions options(bool packed) {
    LinearOptions o;
    o.rc = summary_->rc_file;
    o.db = summary_->obsdb;
    o.use_cache = false;
    if (packed) o.packed = *dir_ / "op.fkop";
    return o;
  }
  static Context ctx(int threads = 2) {
    Context c;
    c.threads = threads;
    return c;
  }
  static fs::path* dir_;
  static synth::SynthFootprintSummary* summary_;
};
fs::path* LinearTransportTest::dir_ = nullptr;
synth::SynthFootprintSummary* LinearTransportTest::summary_ = nullptr;

std::vector<double> uniform(std::size_t n, unsigned seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v)
    x = u(g);
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

}  // namespace

TEST_F(LinearTransportTest, LayoutAndExactTransposes) {
  const LinearTransport h(options(true), ctx());
  EXPECT_EQ(h.categories(), std::vector<std::string>{"biosphere"});
  EXPECT_EQ(h.rows(), ObsDb::read(summary_->obsdb).observations.size());
  EXPECT_EQ(h.columns(), h.axis().size() * h.grid().shape.nlat * h.grid().shape.nlon);
  const auto x = uniform(h.columns(), 1), y = uniform(h.rows(), 2);
  std::vector<double> hx(h.rows());
  h.forward(x, hx);
  const std::vector<double> hty = h.adjoint(y);
  ASSERT_EQ(hty.size(), h.columns());
  EXPECT_LT(std::abs(1.0 - dot(hx, y) / dot(x, hty)), 1e-12);
  std::size_t nonzero = 0;
  for (std::size_t r = 0; r < h.rows(); ++r) {
    if (!h.transported()[r]) {
      EXPECT_EQ(hx[r], 0.0);
    }
    nonzero += hx[r] != 0.0;
  }
  EXPECT_GT(nonzero, 0u);
}

TEST_F(LinearTransportTest, FilesAndPackedGiveTheRunsForward) {
  const LinearTransport files(options(false), ctx(1)), packed(options(true), ctx(2));
  const FluxFile flux = FluxFile::read(summary_->flux_file);
  const FluxCategory& bio = flux.require("biosphere", summary_->flux_file);
  ASSERT_EQ(bio.emis.size(), files.columns());
  std::vector<double> a(files.rows()), b(files.rows());
  files.forward(bio.emis, a);
  packed.forward(bio.emis, b);
  EXPECT_EQ(a, b);

  const fs::path db = *dir_ / "forward.tar.gz";
  fs::copy_file(summary_->obsdb, db, fs::copy_options::overwrite_existing);
  RunOptions o;
  o.forward = true;
  o.rc = summary_->rc_file;
  o.db = db;
  o.emis = summary_->flux_file;
  o.use_cache = false;
  o.progress = false;
  run(o, ctx(), *Communicator::make(false));
  const CsvTable t = ObsDb::read(db).observations;
  const std::size_t col = t.require_column("biosphere", "observations.csv");
  for (std::size_t r = 0; r < t.size(); ++r) {
    const std::string& cell = t.rows[r][col];
    EXPECT_EQ(a[r], cell.empty() ? 0.0 : parse_number(cell, "test")) << "row " << r;
  }
}

TEST_F(LinearTransportTest, WrongLengthsAreErrorsNamingBoth) {
  const LinearTransport h(options(true), ctx());
  std::vector<double> x(h.columns() - 1), y(h.rows());
  try {
    h.forward(x, y);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(h.columns() - 1) + " values, expected " +
                                         std::to_string(h.columns())),
              std::string::npos)
        << e.what();
  }
  x.resize(h.columns());
  std::vector<double> short_y(h.rows() - 1);
  EXPECT_THROW(h.forward(x, short_y), Error);
  EXPECT_THROW((void)h.adjoint(short_y), Error);
  LinearOptions bad = options(false);
  bad.rc = *dir_ / "missing.rc";
  EXPECT_THROW(LinearTransport(bad, ctx()), FileError);
}
