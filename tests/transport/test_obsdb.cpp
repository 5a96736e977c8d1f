// The LUMIA obsdb (spec transport.md §6): pandas-compatible CSV, Python-repr numbers, gzip tar archives as
// Python's tarfile writes them (the archives in data/ were written by data/make_obsdb.py with pandas),
// errors, atomic rewrite.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/obsdb.hpp"

#define EXPECT_CONTAINS(text, sub) EXPECT_TRUE(contains((text), (sub)))

namespace fluxkit::transport {
namespace {

namespace fs = std::filesystem;

::testing::AssertionResult contains(const std::string& text, const std::string& sub) {
  if (text.find(sub) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << sub << "'";
}

fs::path data_dir() {
#ifdef FLUXKIT_SOURCE_DIR
  return fs::path(FLUXKIT_SOURCE_DIR) / "tests" / "transport" / "data";
#else
  return fs::path(__FILE__).parent_path() / "data";
#endif
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fluxkit_obsdb_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

template <class F>
FileError file_error(F&& fn) {
  try {
    fn();
  } catch (const FileError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a FileError, got: " << e.what();
    return FileError("", "", "");
  }
  ADD_FAILURE() << "expected a FileError, nothing was thrown";
  return FileError("", "", "");
}

class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
};

// --- independent tar/gzip builders, to craft archives the writer never produces ---------------------------

std::string gzip_bytes(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct HeaderOptions {
  char type = '0';
  std::string prefix;
  bool base256_size = false;
  bool break_checksum = false;
};

HeaderOptions typed(char type) {
  HeaderOptions o;
  o.type = type;
  return o;
}
HeaderOptions broken_checksum() {
  HeaderOptions o;
  o.break_checksum = true;
  return o;
}
HeaderOptions base256() {
  HeaderOptions o;
  o.base256_size = true;
  return o;
}
HeaderOptions with_prefix(const std::string& prefix) {
  HeaderOptions o;
  o.prefix = prefix;
  return o;
}

std::string tar_header(const std::string& name, std::size_t size, const HeaderOptions& o = {}) {
  std::string h(512, '\0');
  h.replace(0, std::min<std::size_t>(name.size(), 100), name.substr(0, 100));
  h.replace(100, 8, std::string("0000644") + '\0');
  h.replace(108, 8, std::string("0000000") + '\0');
  h.replace(116, 8, std::string("0000000") + '\0');
  if (o.base256_size) {
    h[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i)
      h[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  } else {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%011llo", static_cast<unsigned long long>(size));
    h.replace(124, 12, std::string(buf, 11) + '\0');
  }
  h.replace(136, 12, std::string("14000000000") + '\0');
  h.replace(148, 8, "        ");
  h[156] = o.type;
  h.replace(257, 8,
            std::string("ustar\0"
                        "00",
                        8));
  h.replace(345, std::min<std::size_t>(o.prefix.size(), 155), o.prefix.substr(0, 155));
  unsigned sum = 0;
  for (const char c : h)
    sum += static_cast<unsigned char>(c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06o", sum);
  h.replace(148, 7, std::string(buf, 6) + '\0');
  if (o.break_checksum) h[0] = static_cast<char>(h[0] + 1);
  return h;
}

std::string tar_member(const std::string& name, const std::string& data, const HeaderOptions& o = {}) {
  std::string m = tar_header(name, data.size(), o) + data;
  m.append((512 - data.size() % 512) % 512, '\0');
  return m;
}

std::string pax_record(const std::string& key, const std::string& value) {
  const std::string body = " " + key + "=" + value + "\n";
  std::size_t len = body.size() + 1;
  while (std::to_string(len).size() + body.size() != len)
    ++len;
  return std::to_string(len) + body;
}

const std::string kTarEnd(1024, '\0');
const std::string kObs = ",time,site,footprint\n0,20180111030000,nor,/fp/nor.h5\n";
const std::string kSites = ",code,lat\nnor,nor,60.0864\n";
const std::string kFiles = ",filename\n";

// --- numbers
// --------------------------------------------------------------------------------------------------

TEST(ObsDbNumbers, FormatNumberIsPythonRepr) {
  // Expected strings are Python 3.11's repr() (= pandas 1.5's to_csv of float64).
  const std::vector<std::pair<double, std::string>> cases = {
      {0.1 + 0.2, "0.30000000000000004"},
      {1e16, "1e+16"},
      {1e15, "1000000000000000.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e-4, "0.0001"},
      {9.9e-5, "9.9e-05"},
      {1e-5, "1e-05"},
      {1.5e-7, "1.5e-07"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {123456789.0, "123456789.0"},
      {123456789012345678.0, "1.2345678901234568e+17"},
      {-1.5, "-1.5"},
      {1.0 / 3.0, "0.3333333333333333"},
      {4.35, "4.35"},
      {1e22, "1e+22"},
      {1e100, "1e+100"},
      {100.0, "100.0"},
      {410.5, "410.5"},
      {-0.00012, "-0.00012"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::numeric_limits<double>::quiet_NaN(), ""},
  };
  for (const auto& [v, s] : cases)
    EXPECT_EQ(format_number(v), s) << s;
}

TEST(ObsDbNumbers, ParseNumber) {
  EXPECT_TRUE(std::isnan(parse_number("", "t")));
  for (const char* na : {"nan", "NaN", "NA", "N/A", "NULL", "-nan", "<NA>", " "})
    EXPECT_TRUE(std::isnan(parse_number(na, "t"))) << na;
  EXPECT_EQ(parse_number("1e5", "t"), 1e5);
  EXPECT_EQ(parse_number("+2.5", "t"), 2.5);
  EXPECT_EQ(parse_number(" 3 ", "t"), 3.0);
  EXPECT_EQ(parse_number("0.30000000000000004", "t"), 0.1 + 0.2);
  EXPECT_EQ(parse_number("inf", "t"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_number("-inf", "t"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_number("1e400", "t"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_number("-1e400", "t"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_number("1e-400", "t"), 0.0);
  EXPECT_EQ(parse_number("5e-324", "t"), 5e-324);
  EXPECT_TRUE(std::signbit(parse_number("-0.0", "t")));
  for (const char* bad : {"abc", "1.5x", "--1", "+", "1,5", "0x10"}) {
    try {
      (void)parse_number(bad, "db.tar.gz: observations.csv row 3 column 'dy'");
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_CONTAINS(e.what(), "observations.csv row 3 column 'dy'");
      EXPECT_CONTAINS(e.what(), bad);
    }
  }
}

// --- CSV
// ------------------------------------------------------------------------------------------------------

TEST(CsvTable, ParsesPandasQuoting) {
  // As pandas 1.5 writes it (see data/make_obsdb.py): commas, quotes and newlines quoted, NaN empty.
  const std::string text =
      ",a,s\n"
      "0,1e+16,\"x,y\"\n"
      "1,1000000000000000.0,\"q\"\"r\"\n"
      "2,0.0001,\"line\nbreak\"\n"
      "4,-0.0, sp \n"
      "5,,\n"
      "6,inf,\n";
  const auto t = CsvTable::parse(text, "t.csv");
  EXPECT_EQ(t.index_name, "");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "s"}));
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t.index, (std::vector<std::string>{"0", "1", "2", "4", "5", "6"}));
  EXPECT_EQ(t.rows[0][1], "x,y");
  EXPECT_EQ(t.rows[1][1], "q\"r");
  EXPECT_EQ(t.rows[2][1], "line\nbreak");
  EXPECT_EQ(t.rows[3][1], " sp ");
  EXPECT_EQ(t.rows[4][0], "");
  EXPECT_EQ(t.rows[5][0], "inf");
  EXPECT_EQ(t.to_csv(), text);
}

TEST(CsvTable, ReaderVariants) {
  // CRLF, blank lines, no final newline, a byte-order mark, short rows padded (pandas fills NaN).
  const auto t = CsvTable::parse("\xEF\xBB\xBFidx,a,b\r\n\r\nr1,1,2\r\n\nr2,3\nr3,\"4\r\n5\",6", "v.csv");
  EXPECT_EQ(t.index_name, "idx");
  EXPECT_EQ(t.index, (std::vector<std::string>{"r1", "r2", "r3"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"3", ""}));
  EXPECT_EQ(t.rows[2][0], "4\r\n5");
  EXPECT_EQ(t.to_csv(), "idx,a,b\nr1,1,2\nr2,3,\nr3,\"4\r\n5\",6\n");
  // Header only; an empty files.csv; a lone empty field.
  EXPECT_EQ(CsvTable::parse(",filename\n", "f.csv").size(), 0u);
  EXPECT_EQ(CsvTable::parse(",filename\n", "f.csv").to_csv(), ",filename\n");
  const auto lone = CsvTable::parse("\"\"\n\"\"\n", "l.csv");
  EXPECT_EQ(lone.size(), 1u);
  EXPECT_EQ(lone.to_csv(), "\"\"\n\"\"\n");
}

TEST(CsvTable, WriterQuotesMinimally) {
  CsvTable t;
  t.columns = {"plain", "comma", "quote", "newline", "cr", "empty"};
  t.index = {"0"};
  t.rows = {{"x y", "a,b", "say \"hi\"", "a\nb", "a\rb", ""}};
  EXPECT_EQ(t.to_csv(),
            ",plain,comma,quote,newline,cr,empty\n0,x y,\"a,b\",\"say \"\"hi\"\"\",\"a\nb\",\"a\rb\",\n");
  EXPECT_EQ(CsvTable::parse(t.to_csv(), "w.csv"), t);
  t.rows[0].pop_back();
  EXPECT_THROW((void)t.to_csv(), Error);
  t.rows[0].push_back("");
  t.index.push_back("1");
  EXPECT_THROW((void)t.to_csv(), Error);
}

TEST(CsvTable, ErrorsNameSourceAndLine) {
  const auto unterminated = file_error([] { CsvTable::parse(",a\n0,1\n1,\"open\n2,3\n", "u.csv"); });
  EXPECT_EQ(unterminated.file(), "u.csv");
  EXPECT_CONTAINS(unterminated.what(), "line 3");
  EXPECT_CONTAINS(unterminated.what(), "unterminated");
  const auto junk = file_error([] { CsvTable::parse(",a\n0,\"x\"y\n", "j.csv"); });
  EXPECT_CONTAINS(junk.what(), "line 2");
  const auto wide = file_error([] { CsvTable::parse(",a\n0,1\n\n1,2,3\n", "w.csv"); });
  EXPECT_CONTAINS(wide.what(), "line 4");
  EXPECT_CONTAINS(wide.what(), "3");
  const auto empty = file_error([] { CsvTable::parse("", "e.csv"); });
  EXPECT_CONTAINS(empty.what(), "empty");
  (void)file_error([] { CsvTable::parse("\n\n", "e.csv"); });
}

TEST(CsvTable, Columns) {
  auto t = CsvTable::parse(",time,site\n0,20180111030000,nor\n1,20180111040000,htm\n", "c.csv");
  EXPECT_EQ(t.column("site"), 1u);
  EXPECT_EQ(t.column("dy"), std::nullopt);
  EXPECT_EQ(t.require_column("time", "db.tar.gz: observations.csv"), 0u);
  const auto e = file_error([&] { (void)t.require_column("dy", "db.tar.gz: observations.csv"); });
  EXPECT_EQ(e.variable(), "dy");
  EXPECT_CONTAINS(e.what(), "observations.csv");
  EXPECT_EQ(t.ensure_column("foreground"), 2u);
  EXPECT_EQ(t.ensure_column("site"), 1u);
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"20180111040000", "htm", ""}));
  t.rows[0][2] = format_number(0.0);
  EXPECT_EQ(t.to_csv(), ",time,site,foreground\n0,20180111030000,nor,0.0\n1,20180111040000,htm,\n");
}

// --- archives written by Python
// --------------------------------------------------------------------------------

TEST(ObsDbPython, ReadsTheArchiveLumiaWrites) {
  const auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  ASSERT_EQ(db.observations.size(), 40u);
  EXPECT_EQ(db.observations.index_name, "");
  EXPECT_EQ(db.observations.columns,
            (std::vector<std::string>{"time", "site", "lat", "lon", "alt", "height", "obs", "err",
                                      "background", "footprint", "dy", "tricky", "count", "flag", "note"}));
  const auto& obs = db.observations;
  const std::size_t time = *obs.column("time");
  const std::size_t fp = *obs.column("footprint");
  const std::size_t note = *obs.column("note");
  EXPECT_EQ(obs.index[0], "0");
  EXPECT_EQ(obs.rows[0][time], "20180111030000");
  EXPECT_EQ(obs.rows[3][fp], "");  // NaN footprint
  EXPECT_EQ(obs.rows[0][fp], "/data/footprints/nor.100m.2018-01.h5");
  EXPECT_EQ(obs.rows[1][note], "a, b");
  EXPECT_EQ(obs.rows[2][note], "say \"hi\"");
  EXPECT_EQ(obs.rows[3][note], "two\nlines");
  EXPECT_EQ(obs.rows[4][note], " padded ");
  EXPECT_TRUE(std::isnan(parse_number(obs.rows[5][*obs.column("obs")], "obs")));
  EXPECT_EQ(db.sites.index, (std::vector<std::string>{"htm", "nor", "smr"}));
  EXPECT_EQ(db.sites.rows[2][*db.sites.column("name")], "Hyytiälä, SMEAR II");
  EXPECT_EQ(db.files.columns, std::vector<std::string>{"filename"});
  EXPECT_EQ(db.files.size(), 0u);
}

TEST(ObsDbPython, RewritesPandasTextByteForByte) {
  const auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  EXPECT_EQ(db.observations.to_csv(), slurp(data_dir() / "obsdb_python.observations.csv"));
  EXPECT_EQ(db.sites.to_csv(), slurp(data_dir() / "obsdb_python.sites.csv"));
  EXPECT_EQ(db.files.to_csv(), slurp(data_dir() / "obsdb_python.files.csv"));
}

TEST(ObsDbPython, PandasNumbersRoundTripThroughFormatNumber) {
  // Every float pandas wrote (repr, incl. 1e+16, 5e-324, -0.0, inf) is what format_number writes.
  const auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  std::size_t checked = 0;
  for (const char* col : {"lat", "lon", "alt", "height", "obs", "err", "background", "dy", "tricky"}) {
    const std::size_t c = *db.observations.column(col);
    for (std::size_t r = 0; r < db.observations.size(); ++r) {
      const std::string& cell = db.observations.rows[r][c];
      EXPECT_EQ(format_number(parse_number(cell, col)), cell) << col << " row " << r;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 360u);
}

TEST(ObsDbPython, GnuAndPaxArchives) {
  // GNU format with "./" names, a directory and a GNU long name; pax with a global header, per-member pax
  // records and a long non-ASCII name.
  const auto reference = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  EXPECT_EQ(ObsDb::read(data_dir() / "obsdb_gnu.tar.gz"), reference);
  EXPECT_EQ(ObsDb::read(data_dir() / "obsdb_pax.tar.gz"), reference);
}

// --- round trip
// ------------------------------------------------------------------------------------------------

TEST(ObsDb, RoundTripKeepsUnknownColumnsByteForByte) {
  const fs::path dir = fresh_dir("roundtrip");
  auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  const std::string obs_text = db.observations.to_csv();
  db.write(dir / "copy.tar.gz");
  const auto copy = ObsDb::read(dir / "copy.tar.gz");
  EXPECT_EQ(copy, db);
  EXPECT_EQ(copy.observations.to_csv(), slurp(data_dir() / "obsdb_python.observations.csv"));
  EXPECT_EQ(copy.sites.to_csv(), slurp(data_dir() / "obsdb_python.sites.csv"));
  EXPECT_EQ(copy.files.to_csv(), slurp(data_dir() / "obsdb_python.files.csv"));

  // A forward run adds columns; every other cell is untouched.
  const std::size_t fg = db.observations.ensure_column("foreground");
  const std::size_t model = db.observations.ensure_column("model");
  for (std::size_t r = 0; r < db.observations.size(); ++r) {
    db.observations.rows[r][fg] = format_number(0.1 * static_cast<double>(r));
    db.observations.rows[r][model] = "{'biosphere': " + format_number(1.5 * static_cast<double>(r)) +
                                     ", 'fossil': " + format_number(static_cast<double>(r)) + "}";
  }
  db.write(dir / "copy.tar.gz");
  const auto updated = ObsDb::read(dir / "copy.tar.gz");
  EXPECT_EQ(updated, db);
  const auto& rows = updated.observations.rows;
  EXPECT_EQ(rows[3][fg], "0.30000000000000004");
  EXPECT_EQ(rows[2][model], "{'biosphere': 3.0, 'fossil': 2.0}");
  EXPECT_CONTAINS(updated.observations.to_csv(), "\"{'biosphere': 3.0, 'fossil': 2.0}\"");
  fs::remove_all(dir);
}

TEST(ObsDb, ArchiveLayoutAndReproducibility) {
  const auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  ScopedEnv epoch("SOURCE_DATE_EPOCH", "1600000000");
  const std::string a = db.to_bytes();
  EXPECT_EQ(a, db.to_bytes());
  // gzip header: magic, deflate, mtime (little endian), OS Unix.
  ASSERT_GT(a.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(a[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(a[1]), 0x8b);
  EXPECT_EQ(a[2], 8);
  std::uint32_t mtime = 0;
  for (int i = 0; i < 4; ++i)
    mtime |= static_cast<std::uint32_t>(static_cast<unsigned char>(a[4 + i])) << (8 * i);
  EXPECT_EQ(mtime, 1600000000u);
  EXPECT_EQ(ObsDb::read_bytes(a, "mem"), db);
  // The tar inside: ustar headers, mode 0644, the epoch as mtime, padded to 10240 bytes.
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
  std::string tar(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(a.data()));
  zs.avail_in = static_cast<uInt>(a.size());
  zs.next_out = reinterpret_cast<Bytef*>(tar.data());
  zs.avail_out = static_cast<uInt>(tar.size());
  ASSERT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  tar.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(tar.size() % 10240, 0u);
  EXPECT_EQ(tar.substr(0, 17), std::string("observations.csv") + '\0');
  EXPECT_EQ(tar.substr(100, 8), std::string("0000644") + '\0');
  EXPECT_EQ(tar.substr(136, 12), std::string("13727410000") + '\0');  // 1600000000 in octal
  EXPECT_EQ(tar[156], '0');
  EXPECT_EQ(tar.substr(257, 8), std::string("ustar\0"
                                            "00",
                                            8));
  EXPECT_EQ(tar.substr(512, db.observations.to_csv().size()), db.observations.to_csv());
  ScopedEnv bad("SOURCE_DATE_EPOCH", "yesterday");
  EXPECT_THROW((void)db.to_bytes(), Error);
}

// --- bad archives
// ----------------------------------------------------------------------------------------------

TEST(ObsDb, MissingMemberIsNamed) {
  const fs::path path = data_dir() / "obsdb_no_files.tar.gz";
  const auto e = file_error([&] { ObsDb::read(path); });
  EXPECT_EQ(e.file(), path.string());
  EXPECT_EQ(e.variable(), "files.csv");
  EXPECT_CONTAINS(e.what(), "files.csv");
  EXPECT_CONTAINS(e.what(), "obsdb_no_files.tar.gz");
  const auto only_obs = gzip_bytes(tar_member("observations.csv", kObs) + kTarEnd);
  EXPECT_EQ(file_error([&] { ObsDb::read_bytes(only_obs, "x.tar.gz"); }).variable(), "sites.csv");
  // A member in a sub-directory is not at the root.
  const auto nested = gzip_bytes(tar_member("db/observations.csv", kObs) + tar_member("sites.csv", kSites) +
                                 tar_member("files.csv", kFiles) + kTarEnd);
  EXPECT_EQ(file_error([&] { ObsDb::read_bytes(nested, "n.tar.gz"); }).variable(), "observations.csv");
}

TEST(ObsDb, CorruptArchivesAreFileErrors) {
  const std::string good = slurp(data_dir() / "obsdb_python.tar.gz");
  ASSERT_GT(good.size(), 1000u);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"not gzip", "observations.csv,sites.csv\n"},
      {"truncated", good.substr(0, good.size() / 2)},
      {"header only", good.substr(0, 10)},
      {"trailing garbage", good + "garbage"},
      {"gzip of text", gzip_bytes("hello, this is not a tar archive")},
      {"gzip of nothing", gzip_bytes("")},
      {"bad checksum",
       gzip_bytes(tar_member("observations.csv", kObs, broken_checksum()) + tar_member("sites.csv", kSites) +
                  tar_member("files.csv", kFiles) + kTarEnd)},
      {"truncated member", gzip_bytes(tar_header("observations.csv", 100000) + kObs)},
      {"partial header", gzip_bytes(tar_member("observations.csv", kObs).substr(0, 700))},
      {"bad csv", gzip_bytes(tar_member("observations.csv", ",a\n0,\"open\n") +
                             tar_member("sites.csv", kSites) + tar_member("files.csv", kFiles) + kTarEnd)},
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x55);
  cases.emplace_back("flipped byte", flipped);
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 6] = static_cast<char>(bad_crc[bad_crc.size() - 6] ^ 1);  // CRC32 in the trailer
  cases.emplace_back("bad crc", bad_crc);
  for (const auto& [what, bytes] : cases) {
    const auto e = file_error([&] { ObsDb::read_bytes(bytes, "corrupt.tar.gz"); });
    EXPECT_EQ(e.file(), "corrupt.tar.gz") << what;
    EXPECT_FALSE(std::string(e.what()).empty()) << what;
  }
  const auto bad_csv = file_error([&] {
    ObsDb::read_bytes(gzip_bytes(tar_member("observations.csv", ",a\n0,\"open\n") +
                                 tar_member("sites.csv", kSites) + tar_member("files.csv", kFiles) + kTarEnd),
                      "c.tar.gz");
  });
  EXPECT_EQ(bad_csv.variable(), "observations.csv");
  EXPECT_CONTAINS(bad_csv.what(), "line 2");
  const auto missing = file_error([] { ObsDb::read("/nonexistent/dir/db.tar.gz"); });
  EXPECT_EQ(missing.file(), "/nonexistent/dir/db.tar.gz");
}

TEST(ObsDb, TarVariants) {
  const auto expect_db = [](const std::string& tar, const char* what) {
    const auto db = ObsDb::read_bytes(gzip_bytes(tar), what);
    EXPECT_EQ(db.observations.to_csv(), kObs) << what;
    EXPECT_EQ(db.sites.to_csv(), kSites) << what;
    EXPECT_EQ(db.files.to_csv(), kFiles) << what;
  };
  // "./" names, a directory, a symlink (skipped, its size field ignored), old-style '\0' regular files.
  expect_db(tar_header("./", 0, typed('5')) + tar_member("./observations.csv", kObs) +
                tar_header("./link", 512, typed('2')) + tar_member("./sites.csv", kSites, typed('\0')) +
                tar_member("files.csv", kFiles, typed('7')) + kTarEnd,
            "dot-slash");
  // Base-256 size field; no end-of-archive marker (Python accepts that); a later member of the same name
  // wins.
  expect_db(tar_member("observations.csv", "stale\n") + tar_member("observations.csv", kObs, base256()) +
                tar_member("sites.csv", kSites) + tar_member("files.csv", kFiles),
            "base-256");
  // ustar prefix; GNU long name; pax path (local) overriding the header's name.
  const std::string long_dir(120, 'd');
  expect_db(tar_member("observations.csv", kObs) +
                tar_member("././@LongLink", "sites.csv" + std::string(1, '\0'), typed('L')) +
                tar_member("truncated-name", kSites) +
                tar_member("PaxHeader/x", pax_record("path", "files.csv") + pax_record("mtime", "1.5"),
                           typed('x')) +
                tar_member("something-else.csv", kFiles) + tar_member("x.csv", "a\n", with_prefix(long_dir)) +
                kTarEnd,
            "long names");
  // A pax size record overriding the header's size.
  expect_db(tar_member("observations.csv", kObs) + tar_member("sites.csv", kSites) +
                tar_member("PaxHeader/f", pax_record("size", std::to_string(kFiles.size())), typed('x')) +
                tar_header("files.csv", 0) + kFiles + std::string(512 - kFiles.size(), '\0') + kTarEnd,
            "pax size");
  // Two concatenated gzip members and zero padding (Python's gzip module reads both).
  const std::string tar = tar_member("observations.csv", kObs) + tar_member("sites.csv", kSites) +
                          tar_member("files.csv", kFiles) + kTarEnd;
  const auto db = ObsDb::read_bytes(
      gzip_bytes(tar.substr(0, 1024)) + gzip_bytes(tar.substr(1024)) + std::string(100, '\0'), "multi");
  EXPECT_EQ(db.files.to_csv(), kFiles);
}

// --- atomic rewrite
// --------------------------------------------------------------------------------------------

bool has_temp_files(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

TEST(ObsDb, FailedWriteLeavesTheOriginalIntact) {
  const fs::path dir = fresh_dir("atomic");
  const fs::path target = dir / "db.tar.gz";
  const std::string original = slurp(data_dir() / "obsdb_python.tar.gz");
  write_bytes(target, original);
  auto db = ObsDb::read(target);
  db.observations.ensure_column("foreground");

  // 1. A malformed table fails before anything is written.
  auto broken = db;
  broken.observations.rows[7].pop_back();
  EXPECT_THROW(broken.write(target), Error);
  EXPECT_EQ(slurp(target), original);
  EXPECT_FALSE(has_temp_files(dir));

  // 2. The temporary file cannot be created: occupy the next temp names (AtomicFile names them
  //    ".<name>.tmp-<pid>-<counter>") with directories. Works as root, unlike a read-only directory.
  std::vector<fs::path> blockers;
  {
    const AtomicFile probe(target);
    const std::string name = probe.temp_path().filename().string();
    const unsigned long next = std::stoul(name.substr(name.rfind('-') + 1)) + 1;
    const std::string stem = name.substr(0, name.rfind('-') + 1);
    for (unsigned long k = next; k < next + 4; ++k)
      blockers.push_back(dir / (stem + std::to_string(k)));
  }
  for (const auto& b : blockers)
    fs::create_directory(b);
  const auto e = file_error([&] { db.write(target); });
  EXPECT_EQ(e.file(), target.string());
  EXPECT_EQ(slurp(target), original);
  for (const auto& b : blockers)
    fs::remove(b);
  EXPECT_FALSE(has_temp_files(dir));

  // 3. A read-only directory (only meaningful when not root).
  if (::geteuid() != 0) {
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    (void)file_error([&] { db.write(target); });
    fs::permissions(dir, fs::perms::owner_all);
    EXPECT_EQ(slurp(target), original);
  }

  // 4. The final rename fails (the target is a non-empty directory): no temp file is left behind.
  const fs::path blocked = dir / "blocked.tar.gz";
  fs::create_directories(blocked / "inside");
  (void)file_error([&] { db.write(blocked); });
  EXPECT_TRUE(fs::is_directory(blocked / "inside"));
  EXPECT_FALSE(has_temp_files(dir));

  // 5. A successful write replaces the archive.
  db.write(target);
  EXPECT_EQ(ObsDb::read(target), db);
  EXPECT_FALSE(has_temp_files(dir));
  fs::remove_all(dir);
}

// Writes an archive for tests/transport/test_obsdb_python.py (pandas and tarfile read it) when
// FLUXKIT_OBSDB_EXPORT names the output path: the Python-written db plus forward-run columns.
TEST(ObsDbExport, ArchiveForThePythonCheck) {
  const char* out = std::getenv("FLUXKIT_OBSDB_EXPORT");
  if (out == nullptr || *out == '\0') GTEST_SKIP() << "FLUXKIT_OBSDB_EXPORT not set";
  auto db = ObsDb::read(data_dir() / "obsdb_python.tar.gz");
  const std::size_t fg = db.observations.ensure_column("foreground");
  const std::size_t bio = db.observations.ensure_column("biosphere");
  const std::size_t model = db.observations.ensure_column("model");
  for (std::size_t r = 0; r < db.observations.size(); ++r) {
    const double v = 0.1 * static_cast<double>(r) - 1.0;
    db.observations.rows[r][fg] = format_number(r == 3 ? 0.0 : v);
    db.observations.rows[r][bio] = format_number(r == 3 ? std::numeric_limits<double>::quiet_NaN() : v);
    db.observations.rows[r][model] = r == 3 ? "" : "{'biosphere': " + format_number(v) + "}";
  }
  db.write(out);
  SUCCEED() << "wrote " << out;
}

}  // namespace
}  // namespace fluxkit::transport
