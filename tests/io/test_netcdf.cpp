// Tests for fluxkit::nc (File, Writer) and fluxkit::AtomicFile: round trips of every supported type with
// attributes, hyperslabs, fill/missing values, error messages and the atomicity of writes.
#include "fluxkit/io/netcdf.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"

namespace fluxkit::nc {
namespace {

namespace fs = std::filesystem;

// A fresh, empty directory per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name =
        fmt::format("fluxkit_test_netcdf_{}_{}_{}_{}", info ? info->test_suite_name() : "x",
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

  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  // Names of the entries (hidden ones included), sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

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

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Values that exercise float/double precision and the int32/int8 extremes.
constexpr std::size_t kT = 2, kY = 3, kX = 4;

std::vector<float> float_values() {
  std::vector<float> v(kT * kY * kX);
  for (std::size_t k = 0; k < v.size(); ++k)
    v[k] = 0.1f * static_cast<float>(k) - 1.7f;
  v[5] = std::numeric_limits<float>::max();
  v[6] = std::numeric_limits<float>::denorm_min();
  v[7] = -0.0f;
  return v;
}

std::vector<double> double_values() {
  std::vector<double> v(kY * kX);
  for (std::size_t k = 0; k < v.size(); ++k)
    v[k] = 1.0 / 3.0 + 1e-15 * static_cast<double>(k);
  v[1] = 1e300;
  v[2] = -2.5e-300;
  return v;
}

const std::vector<std::int32_t> kInts = {std::numeric_limits<std::int32_t>::min(), -1, 16777217,
                                         std::numeric_limits<std::int32_t>::max()};
const std::vector<std::int8_t> kBytes = {-128, -1, 0, 127};

// Writes t(2) x y(3) x x(4) variables of every type with attributes, committed to `path`.
void write_all_types(const fs::path& path, const Compression& compression = {},
                     const std::vector<std::size_t>& chunk = {}) {
  Writer w(path);
  w.add_dim("t", kT);
  w.add_dim("y", kY);
  w.add_dim("x", kX);
  w.add_var("f", NC_FLOAT, {"t", "y", "x"}, compression, chunk);
  w.add_var("d", NC_DOUBLE, {"y", "x"});
  w.add_var("i", NC_INT, {"x"});
  w.add_var("b", NC_BYTE, {"x"});
  w.add_var("scalar", NC_DOUBLE, {});
  w.put_att("", "title", "round trip");
  w.put_att("", "answer", 42);
  w.put_att("f", "units", std::string_view("degC"));
  w.put_att("f", "long_name", "sea surface temperature");
  w.put_att("f", "scale", 0.5f);
  w.put_att("d", "offset", 1.0 / 3.0);
  const std::array<double, 3> doubles = {1.5, -2.25, 1e-300};
  const std::array<float, 2> floats = {0.1f, 3.0e38f};
  const std::array<std::int8_t, 2> flags = {0, 1};
  w.put_att("d", "double_list", std::span<const double>(doubles));
  w.put_att("i", "float_list", std::span<const float>(floats));
  w.put_att("b", "flag_values", std::span<const std::int8_t>(flags));
  w.put_att("b", "flag_meanings", "land ocean");
  w.put_att("i", "empty_text", "");
  const auto f = float_values();
  const auto d = double_values();
  w.write("f", std::span<const float>(f));
  w.write("d", std::span<const double>(d));
  w.write("i", std::span<const std::int32_t>(kInts));
  w.write("b", std::span<const std::int8_t>(kBytes));
  const double s = 7.25;
  w.write("scalar", std::span<const double>(&s, 1));
  w.commit();
}

// ---- round trip
// ---------------------------------------------------------------------------------------------

TEST(NetcdfRoundTrip, VariablesOfEveryTypeComeBackExactly) {
  TempDir dir;
  const fs::path p = dir / "all.nc";
  write_all_types(p);
  File f(p);
  EXPECT_EQ(f.path(), p.string());
  EXPECT_GE(f.id(), 0);

  EXPECT_EQ(f.var_names(), (std::vector<std::string>{"f", "d", "i", "b", "scalar"}));
  EXPECT_TRUE(f.has_var("f"));
  EXPECT_FALSE(f.has_var("g"));
  EXPECT_TRUE(f.has_dim("t"));
  EXPECT_FALSE(f.has_dim("z"));
  EXPECT_EQ(f.dim_length("t"), kT);
  EXPECT_EQ(f.dim_length("y"), kY);
  EXPECT_EQ(f.dim_length("x"), kX);

  const VarInfo vf = f.var("f");
  EXPECT_EQ(vf.name, "f");
  EXPECT_EQ(vf.type, NC_FLOAT);
  EXPECT_EQ(vf.dims, (std::vector<std::string>{"t", "y", "x"}));
  EXPECT_EQ(vf.shape, (std::vector<std::size_t>{kT, kY, kX}));
  EXPECT_EQ(vf.size(), kT * kY * kX);
  EXPECT_EQ(f.var("d").type, NC_DOUBLE);
  EXPECT_EQ(f.var("i").type, NC_INT);
  EXPECT_EQ(f.var("b").type, NC_BYTE);
  const VarInfo vs = f.var("scalar");
  EXPECT_TRUE(vs.dims.empty());
  EXPECT_EQ(vs.size(), 1u);

  // float: exact as float, and as double the float value widened.
  const auto fv = float_values();
  const auto f_as_float = f.read_float("f");
  const auto f_as_double = f.read_double("f");
  ASSERT_EQ(f_as_float.size(), fv.size());
  ASSERT_EQ(f_as_double.size(), fv.size());
  for (std::size_t k = 0; k < fv.size(); ++k) {
    EXPECT_EQ(f_as_float[k], fv[k]) << k;
    EXPECT_EQ(f_as_double[k], static_cast<double>(fv[k])) << k;
  }
  EXPECT_TRUE(std::signbit(f_as_float[7]));

  const auto dv = double_values();
  EXPECT_EQ(f.read_double("d"), dv);

  // int32 through double is exact (16777217 is not representable as float).
  const auto iv = f.read_double("i");
  ASSERT_EQ(iv.size(), kInts.size());
  for (std::size_t k = 0; k < kInts.size(); ++k)
    EXPECT_EQ(iv[k], static_cast<double>(kInts[k])) << k;

  const auto bv = f.read_float("b");
  EXPECT_EQ(bv, (std::vector<float>{-128.0f, -1.0f, 0.0f, 127.0f}));

  EXPECT_EQ(f.read_double("scalar"), std::vector<double>{7.25});
}

TEST(NetcdfRoundTrip, AttributesOfEveryKind) {
  TempDir dir;
  const fs::path p = dir / "atts.nc";
  write_all_types(p);
  File f(p);

  EXPECT_EQ(f.text_attribute("", "title"), "round trip");
  EXPECT_EQ(f.number_attribute("", "answer"), std::vector<double>{42.0});
  EXPECT_EQ(f.text_attribute("f", "units"), "degC");
  EXPECT_EQ(f.text_attribute("f", "long_name"), "sea surface temperature");
  EXPECT_EQ(f.number_attribute("f", "scale"), std::vector<double>{0.5});
  EXPECT_EQ(f.number_attribute("d", "offset"), std::vector<double>{1.0 / 3.0});
  EXPECT_EQ(f.number_attribute("d", "double_list"), (std::vector<double>{1.5, -2.25, 1e-300}));
  EXPECT_EQ(f.number_attribute("i", "float_list"),
            (std::vector<double>{static_cast<double>(0.1f), static_cast<double>(3.0e38f)}));
  EXPECT_EQ(f.number_attribute("b", "flag_values"), (std::vector<double>{0.0, 1.0}));
  EXPECT_EQ(f.text_attribute("b", "flag_meanings"), "land ocean");
  EXPECT_EQ(f.text_attribute("i", "empty_text"), "");

  // Attribute types as stored.
  int id = -1;
  ASSERT_EQ(nc_inq_varid(f.id(), "b", &id), NC_NOERR);
  nc_type type = NC_NAT;
  std::size_t len = 0;
  ASSERT_EQ(nc_inq_att(f.id(), id, "flag_values", &type, &len), NC_NOERR);
  EXPECT_EQ(type, NC_BYTE);
  EXPECT_EQ(len, 2u);
  ASSERT_EQ(nc_inq_varid(f.id(), "f", &id), NC_NOERR);
  ASSERT_EQ(nc_inq_att(f.id(), id, "scale", &type, &len), NC_NOERR);
  EXPECT_EQ(type, NC_FLOAT);
  ASSERT_EQ(nc_inq_att(f.id(), NC_GLOBAL, "answer", &type, &len), NC_NOERR);
  EXPECT_EQ(type, NC_INT);

  // Absent attributes are nullopt; attributes of the wrong kind are errors naming the attribute.
  EXPECT_FALSE(f.text_attribute("f", "nope").has_value());
  EXPECT_FALSE(f.number_attribute("", "nope").has_value());
  expect_file_error([&] { (void)f.text_attribute("f", "scale"); }, {p.string(), "'f'", "scale", "not text"});
  expect_file_error([&] { (void)f.number_attribute("f", "units"); },
                    {p.string(), "units", "expected a number"});
  // Attributes of a missing variable: the variable is not found.
  expect_file_error([&] { (void)f.text_attribute("nope", "units"); }, {"'nope'", "not found"});
}

TEST(NetcdfRoundTrip, StringAttributesAreReadAsText) {
  TempDir dir;
  const fs::path p = dir / "strings.nc";
  {
    Writer w(p);
    w.add_dim("x", 1);
    w.add_var("v", NC_FLOAT, {"x"});
    w.end_define();
    w.commit();
  }
  // Add an NC_STRING attribute with the plain C API (some tools write those).
  int ncid = -1;
  ASSERT_EQ(nc_open(p.c_str(), NC_WRITE, &ncid), NC_NOERR);
  ASSERT_EQ(nc_redef(ncid), NC_NOERR);
  const char* text = "a string attribute";
  ASSERT_EQ(nc_put_att_string(ncid, NC_GLOBAL, "note", 1, &text), NC_NOERR);
  ASSERT_EQ(nc_close(ncid), NC_NOERR);

  File f(p);
  EXPECT_EQ(f.text_attribute("", "note"), "a string attribute");
  expect_file_error([&] { (void)f.number_attribute("", "note"); }, {"note", "expected a number"});
}

TEST(NetcdfRoundTrip, CompressedAndChunkedVariables) {
  TempDir dir;
  const fs::path p = dir / "deflate.nc";
  write_all_types(p, Compression{4, true}, {1, kY, kX});
  File f(p);
  const auto fv = float_values();
  EXPECT_EQ(f.read_float("f"), fv);

  int id = -1;
  ASSERT_EQ(nc_inq_varid(f.id(), "f", &id), NC_NOERR);
  int shuffle = -1, deflate = -1, level = -1;
  ASSERT_EQ(nc_inq_var_deflate(f.id(), id, &shuffle, &deflate, &level), NC_NOERR);
  EXPECT_EQ(shuffle, 1);
  EXPECT_EQ(deflate, 1);
  EXPECT_EQ(level, 4);
  int storage = -1;
  std::array<std::size_t, 3> chunks{};
  ASSERT_EQ(nc_inq_var_chunking(f.id(), id, &storage, chunks.data()), NC_NOERR);
  EXPECT_EQ(storage, NC_CHUNKED);
  EXPECT_EQ(chunks, (std::array<std::size_t, 3>{1, kY, kX}));

  // Without compression nothing is deflated.
  ASSERT_EQ(nc_inq_varid(f.id(), "d", &id), NC_NOERR);
  ASSERT_EQ(nc_inq_var_deflate(f.id(), id, &shuffle, &deflate, &level), NC_NOERR);
  EXPECT_EQ(deflate, 0);
}

TEST(NetcdfRoundTrip, WritesHyperslabsPieceByPiece) {
  TempDir dir;
  const fs::path p = dir / "pieces.nc";
  {
    Writer w(p);
    w.add_dim("t", kT);
    w.add_dim("y", kY);
    w.add_dim("x", kX);
    w.add_var("f", NC_FLOAT, {"t", "y", "x"});
    for (std::size_t t = 0; t < kT; ++t) {
      std::vector<float> slab(kY * kX);
      for (std::size_t k = 0; k < slab.size(); ++k)
        slab[k] = static_cast<float>(t * 100 + k);
      const std::array<std::size_t, 3> start = {t, 0, 0}, count = {1, kY, kX};
      w.write("f", std::span<const float>(slab), start, count);
    }
    w.commit();
  }
  File f(p);
  const auto all = f.read_float("f");
  ASSERT_EQ(all.size(), kT * kY * kX);
  for (std::size_t t = 0; t < kT; ++t)
    for (std::size_t k = 0; k < kY * kX; ++k)
      EXPECT_EQ(all[t * kY * kX + k], static_cast<float>(t * 100 + k));
}

TEST(NetcdfRoundTrip, UnlimitedDimension) {
  TempDir dir;
  const fs::path p = dir / "unlimited.nc";
  {
    Writer w(p);
    w.add_dim("time_counter", NC_UNLIMITED);
    w.add_dim("x", 2);
    w.add_var("v", NC_DOUBLE, {"time_counter", "x"});
    const std::vector<double> data = {1, 2, 3, 4, 5, 6};
    const std::array<std::size_t, 2> start = {0, 0}, count = {3, 2};
    w.write("v", std::span<const double>(data), start, count);
    w.commit();
  }
  File f(p);
  EXPECT_EQ(f.dim_length("time_counter"), 3u);
  EXPECT_EQ(f.var("v").shape, (std::vector<std::size_t>{3, 2}));
  EXPECT_EQ(f.read_double("v"), (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(NetcdfRoundTrip, ProvenanceAttributes) {
  TempDir dir;
  const fs::path p = dir / "prov.nc";
  Provenance prov;
  prov.software = "fluxkit 9.9.9";
  prov.git_commit = "abcdef123456";
  prov.config_hash = "fnv1a64:0123456789abcdef";
  prov.creation_date = "1970-01-01T00:00:00Z";
  prov.command_line = "fluxkit synth ocean --resolution 10";
  {
    Writer w(p);
    w.put_provenance(prov);
    w.commit();
  }
  File f(p);
  EXPECT_EQ(f.text_attribute("", "Conventions"), "CF-1.8");
  EXPECT_EQ(f.text_attribute("", "fluxkit_version"), "fluxkit 9.9.9");
  EXPECT_EQ(f.text_attribute("", "fluxkit_git_commit"), "abcdef123456");
  EXPECT_EQ(f.text_attribute("", "fluxkit_config_hash"), "fnv1a64:0123456789abcdef");
  EXPECT_EQ(f.text_attribute("", "date_created"), "1970-01-01T00:00:00Z");
  EXPECT_EQ(f.text_attribute("", "history"), "1970-01-01T00:00:00Z fluxkit synth ocean --resolution 10");
}

TEST(NetcdfRoundTrip, MovedFileStaysUsable) {
  TempDir dir;
  const fs::path p = dir / "move.nc";
  write_all_types(p);
  File a(p);
  File b(std::move(a));
  EXPECT_EQ(b.path(), p.string());
  EXPECT_EQ(b.read_double("scalar"), std::vector<double>{7.25});
}

// ---- hyperslab reads
// ----------------------------------------------------------------------------------------

TEST(NetcdfRead, Hyperslabs) {
  TempDir dir;
  const fs::path p = dir / "slab.nc";
  write_all_types(p);
  File f(p);
  const auto fv = float_values();
  auto at = [&](std::size_t t, std::size_t y, std::size_t x) { return fv[(t * kY + y) * kX + x]; };

  // One time step.
  {
    const std::array<std::size_t, 3> start = {1, 0, 0}, count = {1, kY, kX};
    const auto v = f.read_float("f", start, count);
    ASSERT_EQ(v.size(), kY * kX);
    for (std::size_t y = 0; y < kY; ++y)
      for (std::size_t x = 0; x < kX; ++x)
        EXPECT_EQ(v[y * kX + x], at(1, y, x));
  }
  // An interior box, row-major with x fastest.
  {
    const std::array<std::size_t, 3> start = {0, 1, 1}, count = {2, 2, 3};
    const auto v = f.read_double("f", start, count);
    ASSERT_EQ(v.size(), 12u);
    std::size_t k = 0;
    for (std::size_t t = 0; t < 2; ++t)
      for (std::size_t y = 1; y < 3; ++y)
        for (std::size_t x = 1; x < 4; ++x)
          EXPECT_EQ(v[k++], static_cast<double>(at(t, y, x)));
  }
  // A single value and an empty count.
  {
    const std::array<std::size_t, 3> start = {1, 2, 3}, count = {1, 1, 1};
    EXPECT_EQ(f.read_float("f", start, count), std::vector<float>{at(1, 2, 3)});
    const std::array<std::size_t, 3> none = {1, 1, 0};
    EXPECT_TRUE(f.read_float("f", start, none).empty());
  }
  // 1-D and 2-D variables.
  {
    const std::array<std::size_t, 1> start = {1}, count = {2};
    EXPECT_EQ(f.read_double("i", start, count), (std::vector<double>{-1.0, 16777217.0}));
    const std::array<std::size_t, 2> s2 = {2, 0}, c2 = {1, kX};
    const auto dv = double_values();
    EXPECT_EQ(f.read_double("d", s2, c2), (std::vector<double>(dv.begin() + 8, dv.end())));
  }
}

TEST(NetcdfRead, ReadingBeyondADimensionIsAnError) {
  TempDir dir;
  const fs::path p = dir / "beyond.nc";
  write_all_types(p);
  File f(p);
  {
    const std::array<std::size_t, 3> start = {1, 0, 0}, count = {2, kY, kX};
    expect_file_error([&] { (void)f.read_float("f", start, count); },
                      {p.string(), "'f'", "'t'", "exceeds", "2"});
  }
  {
    const std::array<std::size_t, 3> start = {0, 0, 4}, count = {1, 1, 1};
    expect_file_error([&] { (void)f.read_double("f", start, count); },
                      {"'f'", "'x'", "exceeds its length 4"});
  }
  {
    const std::array<std::size_t, 1> start = {0}, count = {5};
    expect_file_error([&] { (void)f.read_double("i", start, count); }, {"'i'", "'x'", "exceeds"});
  }
  // Wrong number of indices.
  {
    const std::array<std::size_t, 2> start = {0, 0}, count = {1, 1};
    expect_file_error([&] { (void)f.read_float("f", start, count); },
                      {"'f'", "2 indices", "3 dimensions", "t, y, x"});
  }
}

TEST(NetcdfRead, TextVariableIsNotReadAsNumbers) {
  TempDir dir;
  const fs::path p = dir / "text.nc";
  {
    Writer w(p);
    w.add_dim("n", 3);
    w.add_var("label", NC_CHAR, {"n"});
    w.commit();
  }
  File f(p);
  expect_file_error([&] { (void)f.read_double("label"); }, {"'label'", "text, expected numbers"});
}

// ---- fill and missing values
// --------------------------------------------------------------------------------

TEST(NetcdfFill, FillMissingAndNanBecomeNanOtherValuesExact) {
  TempDir dir;
  const fs::path p = dir / "fill.nc";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float above_1e20 = std::nextafter(1e20f, inf);
  const float below_fill = std::nextafter(-999.0f, 0.0f);
  // float variable: _FillValue -999, missing_value 1e20 (NEMO's land value), NaN and inf.
  const std::vector<float> fv = {1.5f, -999.0f, 1e20f, nan, 2.25f, above_1e20, below_fill, inf, -inf, 0.0f};
  // double variable: _FillValue 1e20 (double), missing_value -1.
  const std::vector<double> dv = {1e20, 3.0, -1.0, 1e20 * (1 + 1e-15), std::nan(""), -1.0000001};
  // int32 and int8 variables with _FillValue.
  const std::vector<std::int32_t> iv = {-2147483647, 5, -7, 0};
  const std::vector<std::int8_t> bv = {-127, 1, 0, -127};
  {
    Writer w(p);
    w.add_dim("n", fv.size());
    w.add_dim("m", dv.size());
    w.add_dim("k", 4);
    w.add_var("f", NC_FLOAT, {"n"});
    w.add_var("d", NC_DOUBLE, {"m"});
    w.add_var("i", NC_INT, {"k"});
    w.add_var("b", NC_BYTE, {"k"});
    w.add_var("plain", NC_FLOAT, {"n"});
    w.add_var("f_double_missing", NC_FLOAT, {"n"});
    w.put_att("f", "_FillValue", -999.0f);
    w.put_att("f", "missing_value", 1e20f);
    // missing_value may have another type than its variable: a double 1e20 on float data (1e20f is
    // 1.00000002e20) must still match, also when the data are read as double.
    w.put_att("f_double_missing", "missing_value", 1e20);
    w.put_att("d", "_FillValue", 1e20);
    w.put_att("d", "missing_value", -1.0);
    w.put_att("i", "_FillValue", -2147483647);
    const std::int8_t byte_fill = -127;
    w.put_att("b", "_FillValue", std::span<const std::int8_t>(&byte_fill, 1));
    w.write("f", std::span<const float>(fv));
    w.write("d", std::span<const double>(dv));
    w.write("i", std::span<const std::int32_t>(iv));
    w.write("b", std::span<const std::int8_t>(bv));
    w.write("plain", std::span<const float>(fv));
    w.write("f_double_missing", std::span<const float>(fv));
    w.commit();
  }
  File f(p);
  const std::vector<bool> f_missing = {false, true, true, true, false, false, false, true, true, false};
  const auto ff = f.read_float("f");
  const auto fd = f.read_double("f");
  ASSERT_EQ(ff.size(), fv.size());
  ASSERT_EQ(fd.size(), fv.size());
  for (std::size_t k = 0; k < fv.size(); ++k) {
    if (f_missing[k]) {
      EXPECT_TRUE(std::isnan(ff[k])) << "float read, index " << k << ": " << ff[k];
      EXPECT_TRUE(std::isnan(fd[k])) << "double read, index " << k << ": " << fd[k];
    } else {
      EXPECT_EQ(ff[k], fv[k]) << k;
      EXPECT_EQ(fd[k], static_cast<double>(fv[k])) << k;
    }
  }

  // Without _FillValue/missing_value only the non-finite values are missing; 1e20 and -999 are data.
  const auto pf = f.read_float("plain");
  for (std::size_t k = 0; k < fv.size(); ++k) {
    if (!std::isfinite(fv[k]))
      EXPECT_TRUE(std::isnan(pf[k])) << k;
    else
      EXPECT_EQ(pf[k], fv[k]) << k;
  }

  const auto mf = f.read_float("f_double_missing");
  const auto md = f.read_double("f_double_missing");
  for (std::size_t k = 0; k < fv.size(); ++k) {
    if (!std::isfinite(fv[k]) || fv[k] == 1e20f) {
      EXPECT_TRUE(std::isnan(mf[k])) << "float read, index " << k << ": " << mf[k];
      EXPECT_TRUE(std::isnan(md[k])) << "double read, index " << k << ": " << md[k];
    } else {
      EXPECT_EQ(mf[k], fv[k]) << k;
      EXPECT_EQ(md[k], static_cast<double>(fv[k])) << k;
    }
  }

  const auto dd = f.read_double("d");
  ASSERT_EQ(dd.size(), dv.size());
  EXPECT_TRUE(std::isnan(dd[0]));
  EXPECT_EQ(dd[1], 3.0);
  EXPECT_TRUE(std::isnan(dd[2]));
  EXPECT_EQ(dd[3], dv[3]);
  EXPECT_TRUE(std::isnan(dd[4]));
  EXPECT_EQ(dd[5], -1.0000001);

  const auto id = f.read_double("i");
  EXPECT_TRUE(std::isnan(id[0]));
  EXPECT_EQ(id[1], 5.0);
  EXPECT_EQ(id[2], -7.0);
  EXPECT_EQ(id[3], 0.0);

  const auto bf = f.read_float("b");
  EXPECT_TRUE(std::isnan(bf[0]));
  EXPECT_EQ(bf[1], 1.0f);
  EXPECT_EQ(bf[2], 0.0f);
  EXPECT_TRUE(std::isnan(bf[3]));
}

TEST(NetcdfFill, FillValuesInsideAHyperslab) {
  TempDir dir;
  const fs::path p = dir / "fill_slab.nc";
  {
    Writer w(p);
    w.add_dim("y", 2);
    w.add_dim("x", 3);
    w.add_var("v", NC_FLOAT, {"y", "x"});
    w.put_att("v", "missing_value", 1e20f);
    const std::vector<float> data = {1e20f, 1, 2, 3, 1e20f, 5};
    w.write("v", std::span<const float>(data));
    w.commit();
  }
  File f(p);
  const std::array<std::size_t, 2> start = {1, 0}, count = {1, 3};
  const auto v = f.read_float("v", start, count);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], 3.0f);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(v[2], 5.0f);
}

// ---- packed variables (scale_factor, add_offset, valid_*, _Unsigned)
// ------------------------------------------------------------------

// A netCDF-4 file written with the plain C API, so that any type and attribute combination can be stored.
class RawFile {
 public:
  explicit RawFile(const fs::path& p) : path_(p) {
    EXPECT_EQ(nc_create(p.c_str(), NC_NETCDF4 | NC_CLOBBER, &ncid_), NC_NOERR) << p;
  }
  ~RawFile() { close(); }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  int dim(const char* name, std::size_t len) {
    int id = -1;
    EXPECT_EQ(nc_def_dim(ncid_, name, len, &id), NC_NOERR) << name;
    return id;
  }
  int var(const char* name, nc_type type, std::initializer_list<int> dims) {
    const std::vector<int> d(dims);
    int id = -1;
    EXPECT_EQ(nc_def_var(ncid_, name, type, static_cast<int>(d.size()), d.data(), &id), NC_NOERR) << name;
    return id;
  }
  void text(int var, const char* name, const char* value) {
    EXPECT_EQ(nc_put_att_text(ncid_, var, name, std::strlen(value), value), NC_NOERR) << name;
  }
  // Attribute values given in C++ type T, stored as `type` (T must be the C type of `type`).
  template <class T>
  void att(int var, const char* name, nc_type type, std::initializer_list<T> values) {
    const std::vector<T> v(values);
    EXPECT_EQ(nc_put_att(ncid_, var, name, type, v.size(), v.data()), NC_NOERR) << name;
  }
  template <class T>
  void put(int var, const std::vector<T>& data) {
    if (define_) {
      EXPECT_EQ(nc_enddef(ncid_), NC_NOERR);
      define_ = false;
    }
    EXPECT_EQ(nc_put_var(ncid_, var, data.data()), NC_NOERR);
  }
  void close() {
    if (ncid_ >= 0) {
      EXPECT_EQ(nc_close(ncid_), NC_NOERR) << path_;
    }
    ncid_ = -1;
  }

 private:
  fs::path path_;
  int ncid_ = -1;
  bool define_ = true;
};

// ncpdq's packing of a float field into shorts: add_offset = (min + max) / 2, scale_factor = (max - min) /
// (2^16 - 4), both float; packed = round((value - add_offset) / scale_factor); missing values get the packed
// type's default fill value, declared as _FillValue.
struct NcpdqPacked {
  float scale = 0, offset = 0;
  std::vector<std::int16_t> packed;
};
NcpdqPacked ncpdq_pack(const std::vector<float>& values) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (float v : values)
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  NcpdqPacked p;
  p.offset = static_cast<float>((static_cast<double>(lo) + hi) / 2);
  p.scale = static_cast<float>((static_cast<double>(hi) - lo) / 65532.0);
  for (float v : values)
    p.packed.push_back(std::isfinite(v) ? static_cast<std::int16_t>(
                                              std::lround((v - static_cast<double>(p.offset)) / p.scale))
                                        : static_cast<std::int16_t>(NC_FILL_SHORT));
  return p;
}

TEST(NetcdfPacked, NcpdqStyleShortsUnpackToTheFieldWithinHalfAStep) {
  TempDir dir;
  const fs::path p = dir / "ncpdq.nc";
  // A (time, y, x) SST-like field with a land cell (NaN before packing).
  std::vector<float> sst(kT * kY * kX);
  for (std::size_t k = 0; k < sst.size(); ++k)
    sst[k] = 28.0f * std::sin(0.37f * static_cast<float>(k)) - 1.8f;
  sst[5] = sst[5 + kY * kX] = std::numeric_limits<float>::quiet_NaN();
  const NcpdqPacked pk = ncpdq_pack(sst);
  // The same field in double, packed with double attributes (ncpdq on a double variable).
  std::vector<double> dsst(sst.begin(), sst.end());
  const double dscale = 0.001, doffset = -1.8;
  std::vector<std::int16_t> dpacked;
  for (double v : dsst)
    dpacked.push_back(std::isfinite(v) ? static_cast<std::int16_t>(std::lround((v - doffset) / dscale))
                                       : std::int16_t{-32768});
  {
    RawFile w(p);
    const int t = w.dim("t", kT), y = w.dim("y", kY), x = w.dim("x", kX);
    const int v = w.var("sst", NC_SHORT, {t, y, x});
    w.att<float>(v, "scale_factor", NC_FLOAT, {pk.scale});
    w.att<float>(v, "add_offset", NC_FLOAT, {pk.offset});
    w.att<std::int16_t>(v, "_FillValue", NC_SHORT, {static_cast<std::int16_t>(NC_FILL_SHORT)});
    w.text(v, "units", "degC");
    const int d = w.var("sst_d", NC_SHORT, {t, y, x});
    w.att<double>(d, "scale_factor", NC_DOUBLE, {dscale});
    w.att<double>(d, "add_offset", NC_DOUBLE, {doffset});
    w.att<std::int16_t>(d, "missing_value", NC_SHORT, {-32768});
    w.put(v, pk.packed);
    w.put(d, dpacked);
  }
  File f(p);
  EXPECT_EQ(f.var("sst").type, NC_SHORT);
  const auto as_float = f.read_float("sst");
  const auto as_double = f.read_double("sst");
  ASSERT_EQ(as_float.size(), sst.size());
  for (std::size_t k = 0; k < sst.size(); ++k) {
    if (std::isnan(sst[k])) {
      EXPECT_TRUE(std::isnan(as_float[k]) && std::isnan(as_double[k])) << k;
      continue;
    }
    // packed * scale_factor + add_offset in double, rounded to float (the attributes' type).
    const float expected = static_cast<float>(pk.packed[k] * static_cast<double>(pk.scale) + pk.offset);
    EXPECT_EQ(as_float[k], expected) << k;
    EXPECT_EQ(as_double[k], static_cast<double>(expected)) << k;
    EXPECT_NEAR(as_float[k], sst[k], 0.5 * pk.scale + 1e-5) << k;
    EXPECT_NE(as_float[k], static_cast<float>(pk.packed[k])) << "read as raw integers";
  }
  // A hyperslab unpacks the same values.
  const std::array<std::size_t, 3> start = {1, 1, 0}, count = {1, 2, kX};
  const auto slab = f.read_float("sst", start, count);
  for (std::size_t k = 0; k < slab.size(); ++k) {
    const float e = as_float[kY * kX + kX + k];
    if (std::isnan(e))
      EXPECT_TRUE(std::isnan(slab[k]));
    else
      EXPECT_EQ(slab[k], e);
  }
  // Double attributes: unpacked in double, exactly packed * scale + offset.
  const auto dd = f.read_double("sst_d");
  const auto df = f.read_float("sst_d");
  for (std::size_t k = 0; k < dsst.size(); ++k) {
    if (std::isnan(dsst[k])) {
      EXPECT_TRUE(std::isnan(dd[k]) && std::isnan(df[k])) << k;
      continue;
    }
    EXPECT_EQ(dd[k], dpacked[k] * dscale + doffset) << k;
    EXPECT_EQ(df[k], static_cast<float>(dpacked[k] * dscale + doffset)) << k;
    EXPECT_NEAR(dd[k], dsst[k], 0.5 * dscale + 1e-12) << k;
  }
}

TEST(NetcdfPacked, ScaleOrOffsetAloneAndSameTypeAsTheVariable) {
  TempDir dir;
  const fs::path p = dir / "partial.nc";
  const std::vector<std::int32_t> raw = {-3, 0, 7, 1000000};
  const std::vector<float> fraw = {1.5f, -2.0f, 0.0f, 1e20f};
  {
    RawFile w(p);
    const int n = w.dim("n", 4);
    const int a = w.var("scale_only", NC_INT, {n});
    w.att<double>(a, "scale_factor", NC_DOUBLE, {0.25});
    const int b = w.var("offset_only", NC_INT, {n});
    w.att<float>(b, "add_offset", NC_FLOAT, {-273.15f});
    // Packing attributes of the variable's own type: the data keep that type.
    const int c = w.var("float_scaled", NC_FLOAT, {n});
    w.att<float>(c, "scale_factor", NC_FLOAT, {2.0f});
    w.att<float>(c, "add_offset", NC_FLOAT, {0.5f});
    w.att<float>(c, "_FillValue", NC_FLOAT, {1e20f});
    w.put(a, raw);
    w.put(b, raw);
    w.put(c, fraw);
  }
  File f(p);
  EXPECT_EQ(f.read_double("scale_only"), (std::vector<double>{-0.75, 0.0, 1.75, 250000.0}));
  const auto off = f.read_double("offset_only");
  for (std::size_t k = 0; k < raw.size(); ++k)
    EXPECT_EQ(off[k], static_cast<double>(static_cast<float>(raw[k] + static_cast<double>(-273.15f)))) << k;
  const auto fs_ = f.read_float("float_scaled");
  EXPECT_EQ(fs_[0], 3.5f);
  EXPECT_EQ(fs_[1], -3.5f);
  EXPECT_EQ(fs_[2], 0.5f);
  EXPECT_TRUE(std::isnan(fs_[3])) << "the fill value is compared before unpacking";
}

TEST(NetcdfPacked, UnsignedBytesAndShorts) {
  TempDir dir;
  const fs::path p = dir / "unsigned.nc";
  const std::vector<std::int8_t> bytes = {-1, -128, 0, 127, -2, 5};
  const std::vector<std::int16_t> shorts = {-1, -32768, 0, 32767, 12, -2};
  const std::vector<std::uint8_t> ubytes = {255, 128, 0, 127, 254, 5};
  {
    RawFile w(p);
    const int n = w.dim("n", 6);
    const int b = w.var("ice", NC_BYTE, {n});
    w.text(b, "_Unsigned", "true");
    w.att<float>(b, "scale_factor", NC_FLOAT, {0.5f});
    w.att<float>(b, "add_offset", NC_FLOAT, {0.0f});
    w.att<std::int8_t>(b, "_FillValue", NC_BYTE, {-1});  // 255 as unsigned
    const int s = w.var("count", NC_SHORT, {n});
    w.text(s, "_Unsigned", "TRUE");
    w.att<std::uint16_t>(s, "missing_value", NC_USHORT, {65534});  // -2 stored
    const int u = w.var("ubyte", NC_UBYTE, {n});
    w.att<double>(u, "scale_factor", NC_DOUBLE, {0.5});
    const int f = w.var("signed_bytes", NC_BYTE, {n});
    w.text(f, "_Unsigned", "false");
    w.put(b, bytes);
    w.put(s, shorts);
    w.put(u, ubytes);
    w.put(f, bytes);
  }
  File f(p);
  const auto ice = f.read_double("ice");
  EXPECT_TRUE(std::isnan(ice[0])) << "_FillValue -1 is the unsigned 255";
  EXPECT_EQ(ice[1], 64.0);  // 128 * 0.5
  EXPECT_EQ(ice[2], 0.0);
  EXPECT_EQ(ice[3], 63.5);
  EXPECT_EQ(ice[4], 127.0);  // 254 * 0.5
  EXPECT_EQ(ice[5], 2.5);
  const auto count = f.read_double("count");
  EXPECT_EQ(count[0], 65535.0);
  EXPECT_EQ(count[1], 32768.0);
  EXPECT_EQ(count[2], 0.0);
  EXPECT_EQ(count[3], 32767.0);
  EXPECT_EQ(count[4], 12.0);
  EXPECT_TRUE(std::isnan(count[5])) << "an unsigned missing_value matches the unsigned value";
  EXPECT_EQ(f.read_float("ubyte"), (std::vector<float>{127.5f, 64.0f, 0.0f, 63.5f, 127.0f, 2.5f}));
  EXPECT_EQ(f.read_double("signed_bytes"), (std::vector<double>{-1, -128, 0, 127, -2, 5}));
}

TEST(NetcdfPacked, ValidRangeOnPackedOrUnpackedValues) {
  TempDir dir;
  const fs::path p = dir / "valid.nc";
  const std::vector<std::int16_t> raw = {-101, -100, 0, 40, 60, 100, 101};
  const std::vector<float> plain = {-1.0f, 0.0f, 5.0f, 10.0f, 10.5f, 3.0f, -0.0f};
  const std::vector<std::int8_t> bytes = {-50, -60, 10, 0, -1, 1, 2};
  {
    RawFile w(p);
    const int n = w.dim("n", raw.size());
    // valid_range in the packed type (short) on packed shorts.
    const int a = w.var("range_packed", NC_SHORT, {n});
    w.att<float>(a, "scale_factor", NC_FLOAT, {0.01f});
    w.att<std::int16_t>(a, "valid_range", NC_SHORT, {-100, 100});
    // valid_max in the unpacked type (float, the type of scale_factor): compared with unpacked values.
    const int b = w.var("max_unpacked", NC_SHORT, {n});
    w.att<float>(b, "scale_factor", NC_FLOAT, {0.01f});
    w.att<float>(b, "valid_max", NC_FLOAT, {0.5f});
    // valid_min alone on a plain float variable.
    const int c = w.var("min_plain", NC_FLOAT, {n});
    w.att<float>(c, "valid_min", NC_FLOAT, {0.0f});
    // valid_min and valid_max of an _Unsigned byte variable: limits of the variable's type are unsigned too.
    const int d = w.var("range_unsigned", NC_BYTE, {n});
    w.text(d, "_Unsigned", "true");
    w.att<std::int8_t>(d, "valid_min", NC_BYTE, {1});
    w.att<std::int8_t>(d, "valid_max", NC_BYTE, {-56});  // 200
    // valid_range wins over valid_min/valid_max (as netCDF4-python).
    const int e = w.var("range_wins", NC_FLOAT, {n});
    w.att<float>(e, "valid_range", NC_FLOAT, {0.0f, 5.0f});
    w.att<float>(e, "valid_max", NC_FLOAT, {100.0f});
    w.put(a, raw);
    w.put(b, raw);
    w.put(c, plain);
    w.put(d, bytes);
    w.put(e, plain);
  }
  File f(p);
  const auto a = f.read_double("range_packed");
  EXPECT_TRUE(std::isnan(a[0]));
  EXPECT_EQ(a[1], static_cast<double>(static_cast<float>(-100 * static_cast<double>(0.01f))));
  EXPECT_EQ(a[2], 0.0);
  EXPECT_FALSE(std::isnan(a[5]));
  EXPECT_TRUE(std::isnan(a[6]));
  const auto b = f.read_float("max_unpacked");
  EXPECT_FLOAT_EQ(b[0], -1.01f);
  EXPECT_FLOAT_EQ(b[3], 0.4f);
  EXPECT_TRUE(std::isnan(b[4])) << "0.6 > valid_max 0.5";
  EXPECT_TRUE(std::isnan(b[5]));
  const auto c = f.read_float("min_plain");
  EXPECT_TRUE(std::isnan(c[0]));
  EXPECT_EQ(c[1], 0.0f);
  EXPECT_EQ(c[4], 10.5f);
  EXPECT_EQ(c[6], 0.0f);
  const auto d = f.read_double("range_unsigned");
  EXPECT_TRUE(std::isnan(d[0])) << "206 > 200";
  EXPECT_EQ(d[1], 196.0);
  EXPECT_EQ(d[2], 10.0);
  EXPECT_TRUE(std::isnan(d[3])) << "0 < 1";
  EXPECT_TRUE(std::isnan(d[4])) << "255 > 200";
  EXPECT_EQ(d[5], 1.0);
  const auto e = f.read_float("range_wins");
  EXPECT_TRUE(std::isnan(e[0]));
  EXPECT_EQ(e[2], 5.0f);
  EXPECT_TRUE(std::isnan(e[3]));
}

TEST(NetcdfPacked, UnsupportedCombinationsNameTheFileAndVariable) {
  TempDir dir;
  const fs::path p = dir / "unsupported.nc";
  const std::vector<std::int16_t> raw = {1, 2, 3};
  const std::vector<float> floats = {1, 2, 3};
  {
    RawFile w(p);
    const int n = w.dim("n", 3);
    const int a = w.var("mixed_types", NC_SHORT, {n});
    w.att<float>(a, "scale_factor", NC_FLOAT, {0.1f});
    w.att<double>(a, "add_offset", NC_DOUBLE, {5.0});
    const int b = w.var("label", NC_CHAR, {n});
    w.att<float>(b, "scale_factor", NC_FLOAT, {0.1f});
    const int c = w.var("unsigned_float", NC_FLOAT, {n});
    w.text(c, "_Unsigned", "true");
    const int d = w.var("int_scale", NC_SHORT, {n});
    w.att<std::int32_t>(d, "scale_factor", NC_INT, {10});
    const int e = w.var("bad_range", NC_FLOAT, {n});
    w.att<float>(e, "valid_range", NC_FLOAT, {0.0f, 1.0f, 2.0f});
    const int g = w.var("empty_range", NC_FLOAT, {n});
    w.att<float>(g, "valid_range", NC_FLOAT, {2.0f, 1.0f});
    const int h = w.var("unsigned_maybe", NC_SHORT, {n});
    w.text(h, "_Unsigned", "maybe");
    const int i = w.var("two_scales", NC_SHORT, {n});
    w.att<float>(i, "scale_factor", NC_FLOAT, {0.1f, 0.2f});
    const int j = w.var("unsigned_number", NC_SHORT, {n});
    w.att<std::int32_t>(j, "_Unsigned", NC_INT, {1});
    w.put(a, raw);
    w.put(b, std::vector<char>{'a', 'b', 'c'});
    w.put(c, floats);
    w.put(d, raw);
    w.put(e, floats);
    w.put(g, floats);
    w.put(h, raw);
    w.put(i, raw);
    w.put(j, raw);
  }
  File f(p);
  const std::string file = p.string();
  const FileError e1 = expect_file_error([&] { (void)f.read_float("mixed_types"); },
                                         {file, "variable 'mixed_types'", "unsupported packing",
                                          "scale_factor is float but add_offset is double"});
  EXPECT_EQ(e1.file(), file);
  EXPECT_EQ(e1.variable(), "mixed_types");
  expect_file_error([&] { (void)f.read_double("mixed_types"); }, {file, "'mixed_types'", "add_offset"});
  expect_file_error([&] { (void)f.read_double("label"); },
                    {file, "'label'", "unsupported packing: scale_factor on a char (text) variable"});
  expect_file_error([&] { (void)f.read_float("unsigned_float"); },
                    {file, "'unsigned_float'", "_Unsigned = \"true\" on a float variable"});
  expect_file_error([&] { (void)f.read_double("int_scale"); },
                    {file, "'int_scale'", "scale_factor of type int on a short variable", "float or double"});
  expect_file_error([&] { (void)f.read_float("bad_range"); },
                    {file, "'bad_range'", "valid_range holds 3 values, expected 2"});
  expect_file_error([&] { (void)f.read_float("empty_range"); }, {file, "'empty_range'", "is empty"});
  expect_file_error([&] { (void)f.read_float("unsigned_maybe"); },
                    {file, "'unsigned_maybe'", "_Unsigned = \"maybe\""});
  expect_file_error([&] { (void)f.read_float("two_scales"); },
                    {file, "'two_scales'", "scale_factor holds 2 values"});
  expect_file_error([&] { (void)f.read_float("unsigned_number"); },
                    {file, "'unsigned_number'", "_Unsigned has type int"});
}

// ---- errors
// -------------------------------------------------------------------------------------------------

TEST(NetcdfErrors, MissingFileNamesThePath) {
  TempDir dir;
  const fs::path p = dir / "does_not_exist.nc";
  const FileError e = expect_file_error([&] { File f(p); }, {p.string(), "file not found"});
  EXPECT_EQ(e.file(), p.string());
  EXPECT_TRUE(e.variable().empty());
}

TEST(NetcdfErrors, InaccessiblePathIsAFileError) {
  // stat() fails with ENAMETOOLONG: still a FileError naming the path, not a std::filesystem_error.
  TempDir dir;
  const fs::path p = dir / (std::string(300, 'a') + ".nc");
  expect_file_error([&] { File f(p); }, {p.string(), "cannot access"});
  // A directory is not a netCDF file.
  expect_file_error([&] { File f(dir.path()); }, {dir.path().string(), "cannot open as netCDF"});
}

TEST(NetcdfErrors, CorruptFileCannotBeOpened) {
  TempDir dir;
  const fs::path p = dir / "corrupt.nc";
  {
    std::ofstream out(p, std::ios::binary);
    out << "this is not a netCDF file\x01\x02\x03 garbage garbage garbage";
    for (int k = 0; k < 1000; ++k)
      out.put(static_cast<char>(k * 37));
  }
  expect_file_error([&] { File f(p); }, {p.string(), "cannot open as netCDF"});

  // An empty file and a truncated real file are not netCDF either.
  const fs::path empty = dir / "empty.nc";
  { std::ofstream out(empty, std::ios::binary); }
  expect_file_error([&] { File f(empty); }, {empty.string(), "cannot open as netCDF"});

  const fs::path good = dir / "good.nc";
  write_all_types(good);
  const std::string bytes = read_bytes(good);
  const fs::path truncated = dir / "truncated.nc";
  {
    std::ofstream out(truncated, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  }
  expect_file_error([&] { File f(truncated); }, {truncated.string(), "cannot open as netCDF"});
}

TEST(NetcdfErrors, MissingVariableListsThePresentOnes) {
  TempDir dir;
  const fs::path p = dir / "vars.nc";
  write_all_types(p);
  File f(p);
  const FileError e = expect_file_error([&] { (void)f.var("sst"); },
                                        {p.string(), "variable 'sst'", "not found", "f, d, i, b, scalar"});
  EXPECT_EQ(e.variable(), "sst");
  expect_file_error([&] { (void)f.read_float("sst"); }, {"'sst'", "not found", "f, d, i, b, scalar"});
  expect_file_error([&] { (void)f.read_double("sst"); }, {"'sst'", "not found"});
  expect_file_error([&] { (void)f.dim_length("z"); }, {p.string(), "'z'"});
}

TEST(NetcdfErrors, WriterRejectsInconsistentDefinitionsAndWrites) {
  TempDir dir;
  const fs::path p = dir / "bad.nc";
  Writer w(p);
  EXPECT_EQ(w.target(), p);
  w.add_dim("x", 3);
  expect_file_error([&] { w.add_dim("x", 4); }, {p.string(), "'x'"});
  expect_file_error(
      [&] {
        w.add_var("v", NC_FLOAT, {"x", "nodim"});
      },
      {p.string(), "'v'", "'nodim'", "not defined"});
  w.add_var("v", NC_FLOAT, {"x"});
  expect_file_error([&] { w.put_att("nope", "units", "m"); }, {"'nope'"});
  const std::vector<float> two = {1, 2};
  expect_file_error([&] { w.write("v", std::span<const float>(two)); },
                    {p.string(), "'v'", "2 values", "3 values"});
  const std::vector<float> three = {1, 2, 3};
  expect_file_error([&] { w.write("nope", std::span<const float>(three)); }, {"'nope'"});
  // Beyond the end of a fixed dimension.
  const std::array<std::size_t, 1> start = {1}, count = {3};
  expect_file_error([&] { w.write("v", std::span<const float>(three), start, count); }, {"'v'", "write"});
  // Nothing is committed: the target never appears.
  EXPECT_FALSE(fs::exists(p));
}

TEST(NetcdfErrors, ErrorMessagesFollowTheFileVariableProblemFormat) {
  const FileError with_var("a.nc", "sst", "broken");
  EXPECT_STREQ(with_var.what(), "a.nc: variable 'sst': broken");
  const FileError without_var("a.nc", "", "broken");
  EXPECT_STREQ(without_var.what(), "a.nc: broken");
  EXPECT_THROW(check(NC_ENOTVAR, "a.nc", "v", "inquiry"), FileError);
  EXPECT_NO_THROW(check(NC_NOERR, "a.nc", "v", "inquiry"));
  try {
    check(NC_ENOTVAR, "a.nc", "v", "inquiry");
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()), std::string("a.nc: variable 'v': inquiry: ") + nc_strerror(NC_ENOTVAR));
  }
}

// ---- atomicity
// ----------------------------------------------------------------------------------------------

TEST(NetcdfAtomic, WriterWithoutCommitLeavesNothing) {
  TempDir dir;
  const fs::path p = dir / "out.nc";
  {
    Writer w(p);
    w.add_dim("x", 3);
    w.add_var("v", NC_FLOAT, {"x"});
    const std::vector<float> data = {1, 2, 3};
    w.write("v", std::span<const float>(data));
    EXPECT_FALSE(fs::exists(p)) << "the target must not appear before commit()";
    EXPECT_EQ(dir.entries().size(), 1u) << "exactly one temp file while writing";
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(dir.entries().empty()) << "left: " << ::testing::PrintToString(dir.entries());
}

TEST(NetcdfAtomic, ExceptionWhileWritingLeavesNothing) {
  TempDir dir;
  const fs::path p = dir / "out.nc";
  auto write_wrong_size = [&] {
    Writer w(p);
    w.add_dim("x", 3);
    w.add_var("v", NC_FLOAT, {"x"});
    const std::vector<float> wrong = {1, 2};
    w.write("v", std::span<const float>(wrong));  // throws
    w.commit();
  };
  EXPECT_THROW(write_wrong_size(), FileError);
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(dir.entries().empty()) << "left: " << ::testing::PrintToString(dir.entries());
}

TEST(NetcdfAtomic, UncommittedWriterLeavesAnExistingTargetByteIdentical) {
  TempDir dir;
  const fs::path p = dir / "out.nc";
  write_all_types(p);
  const std::string before = read_bytes(p);
  ASSERT_FALSE(before.empty());
  {
    Writer w(p);
    w.add_dim("x", 2);
    w.add_var("other", NC_DOUBLE, {"x"});
    const std::vector<double> data = {9, 9};
    w.write("other", std::span<const double>(data));
    EXPECT_EQ(read_bytes(p), before) << "the target must not change before commit()";
  }
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.nc"});
  File f(p);
  EXPECT_TRUE(f.has_var("f"));
  EXPECT_FALSE(f.has_var("other"));
}

TEST(NetcdfAtomic, CommitReplacesTheTargetAndRemovesTheTemp) {
  TempDir dir;
  const fs::path p = dir / "out.nc";
  write_all_types(p);
  {
    Writer w(p);
    w.add_dim("x", 2);
    w.add_var("other", NC_DOUBLE, {"x"});
    const std::vector<double> data = {9, 8};
    w.write("other", std::span<const double>(data));
    w.commit();
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.nc"});
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.nc"});
  File f(p);
  EXPECT_FALSE(f.has_var("f"));
  EXPECT_EQ(f.read_double("other"), (std::vector<double>{9, 8}));
}

TEST(NetcdfAtomic, WriterCreatesParentDirectories) {
  TempDir dir;
  const fs::path p = dir / "a/b/c/out.nc";
  {
    Writer w(p);
    w.commit();
  }
  EXPECT_TRUE(fs::is_regular_file(p));
  EXPECT_EQ(std::distance(fs::directory_iterator(p.parent_path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, TempIsHiddenInTheTargetDirectory) {
  TempDir dir;
  const fs::path p = dir / "table.csv";
  AtomicFile a(p);
  EXPECT_EQ(a.target(), p);
  EXPECT_EQ(a.temp_path().parent_path(), p.parent_path());
  const std::string temp_name = a.temp_path().filename().string();
  EXPECT_EQ(temp_name.rfind(".table.csv", 0), 0u) << temp_name;
  EXPECT_NE(a.temp_path(), p);
  EXPECT_FALSE(a.committed());
  AtomicFile b(p);
  EXPECT_NE(a.temp_path(), b.temp_path()) << "two writers of one target need distinct temp files";
}

TEST(AtomicFile, DestructorRemovesAnUncommittedTemp) {
  TempDir dir;
  const fs::path p = dir / "table.csv";
  { std::ofstream(p) << "old"; }
  {
    AtomicFile a(p);
    std::ofstream(a.temp_path()) << "new";
    EXPECT_TRUE(fs::exists(a.temp_path()));
  }
  EXPECT_EQ(read_bytes(p), "old");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"table.csv"});
}

TEST(AtomicFile, CommitRenamesOverTheTarget) {
  TempDir dir;
  const fs::path p = dir / "table.csv";
  { std::ofstream(p) << "old"; }
  AtomicFile a(p);
  std::ofstream(a.temp_path()) << "new";
  a.commit();
  EXPECT_TRUE(a.committed());
  EXPECT_FALSE(fs::exists(a.temp_path()));
  EXPECT_EQ(read_bytes(p), "new");
  a.commit();  // a second commit is a no-op
  EXPECT_EQ(read_bytes(p), "new");
}

TEST(AtomicFile, CommitWithoutATempFileIsAnError) {
  TempDir dir;
  const fs::path p = dir / "never_written.csv";
  AtomicFile a(p);
  expect_file_error([&] { a.commit(); }, {p.string(), "cannot move finished file into place"});
  EXPECT_FALSE(a.committed());
  EXPECT_FALSE(fs::exists(p));
}

TEST(AtomicFile, WriteTextAtomic) {
  TempDir dir;
  const fs::path p = dir / "sub/report.txt";
  write_text_atomic(p, "line 1\nline 2\n");
  EXPECT_EQ(read_bytes(p), "line 1\nline 2\n");
  write_text_atomic(p, "replaced");
  EXPECT_EQ(read_bytes(p), "replaced");
  EXPECT_EQ(std::distance(fs::directory_iterator(p.parent_path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, UncreatableDirectoryIsAnError) {
  TempDir dir;
  const fs::path blocker = dir / "file";
  { std::ofstream(blocker) << "x"; }
  expect_file_error([&] { AtomicFile a(blocker / "sub" / "out.nc"); },
                    {blocker.string(), "cannot create directory"});
  expect_file_error([&] { Writer w(blocker / "out.nc"); }, {blocker.string()});
}

}  // namespace
}  // namespace fluxkit::nc
