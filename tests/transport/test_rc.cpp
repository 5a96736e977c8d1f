// LUMIA rc files (spec transport.md §7): syntax, substitution, wildcards, environment fallback, includes,
// errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/rc.hpp"

// EXPECT that `text` contains `sub` (GoogleTest without gmock).
#define EXPECT_CONTAINS(text, sub) EXPECT_TRUE(contains((text), (sub)))

namespace fluxkit::transport {
namespace {

::testing::AssertionResult contains(const std::string& text, const std::string& sub) {
  if (text.find(sub) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << sub << "'";
}

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fluxkit_rc_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// The FileError `fn` throws (fails the test when it throws nothing or something else).
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

// An environment variable set for the lifetime of the object.
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

TEST(RcSyntax, KeyValueSplitAtFirstColonAndStripped) {
  const auto rc = RcFile::parse_string(
      "time.start   :   2018, 1, 1  \n"
      "path.run:/scratch/run:1\n"
      "empty.value :\n"
      "spaced key : v\n"
      "\tindented.key\t:\tx y\t\n");
  EXPECT_EQ(rc.get("time.start"), "2018, 1, 1");
  EXPECT_EQ(rc.get("path.run"), "/scratch/run:1");
  EXPECT_EQ(rc.get("empty.value"), "");
  EXPECT_EQ(rc.get("spaced key"), "v");
  EXPECT_EQ(rc.get("indented.key"), "x y");
  EXPECT_EQ(rc.entries().size(), 5u);
}

TEST(RcSyntax, CommentsBlankLinesAndDirectives) {
  const auto rc = RcFile::parse_string(
      "! a comment line\n"
      "\n"
      "   \t  \n"
      "   ! an indented comment : with a colon\n"
      "a : 1 ! inline comment\n"
      "b : x!y\n"
      "c : ! only a comment\n"
      "# a hash line is ignored\n"
      "#define X 1\n"
      "d : 4\n");
  EXPECT_EQ(rc.get("a"), "1");
  EXPECT_EQ(rc.get("b"), "x");
  EXPECT_EQ(rc.get("c"), "");
  EXPECT_EQ(rc.get("d"), "4");
  EXPECT_EQ(rc.entries().size(), 4u);
}

TEST(RcSyntax, LineEndings) {
  const auto rc = RcFile::parse_string("a : 1\r\nb : 2\rc : 3\n\nd : 4");
  EXPECT_EQ(rc.get("a"), "1");
  EXPECT_EQ(rc.get("b"), "2");
  EXPECT_EQ(rc.get("c"), "3");
  EXPECT_EQ(rc.get("d"), "4");
  EXPECT_EQ(rc.origin("d"), "<string>:5");
}

TEST(RcSyntax, LaterDuplicatesOverride) {
  const auto rc = RcFile::parse_string("a : 1\nb : 2\na : 3\n", "x.rc");
  EXPECT_EQ(rc.get("a"), "3");
  EXPECT_EQ(rc.origin("a"), "x.rc:3");
  EXPECT_EQ(rc.origin("b"), "x.rc:2");
}

TEST(RcSubstitution, EarlierKeysEnvironmentAndWildcards) {
  ScopedEnv env("FLUXKIT_RC_TEST_HOME", "/home/lumia");
  const auto rc = RcFile::parse_string(
      "path.root : /data\n"
      "path.run : ${path.root}/run/${FLUXKIT_RC_TEST_HOME}\n"
      "emissions.*.interval : 3h\n"
      "step : ${emissions.biosphere.interval}-${path.root}\n"
      "literal : ${} and ${unterminated\n"
      "twice : ${path.root}${path.root}\n");
  EXPECT_EQ(rc.get("path.run"), "/data/run//home/lumia");
  EXPECT_EQ(rc.get("step"), "3h-/data");
  EXPECT_EQ(rc.get("literal"), "${} and ${unterminated");
  EXPECT_EQ(rc.get("twice"), "/data/data");
}

TEST(RcSubstitution, UsesTheValueAtTheTimeOfTheLineAndKeysBeatTheEnvironment) {
  ScopedEnv env("FLUXKIT_RC_TEST_X", "from-env");
  const auto rc = RcFile::parse_string(
      "a : ${FLUXKIT_RC_TEST_X}\n"
      "FLUXKIT_RC_TEST_X : from-rc\n"
      "b : ${FLUXKIT_RC_TEST_X}\n"
      "v : 1\n"
      "w : ${v}\n"
      "v : 2\n");
  EXPECT_EQ(rc.get("a"), "from-env");
  EXPECT_EQ(rc.get("b"), "from-rc");
  EXPECT_EQ(rc.get("w"), "1");
  EXPECT_EQ(rc.get("v"), "2");
}

TEST(RcSubstitution, UndefinedNameIsAnErrorNamingFileLineAndName) {
  ::unsetenv("FLUXKIT_RC_TEST_UNDEFINED");
  const auto e = file_error(
      [] { RcFile::parse_string("a : 1\n! c\nb : x/${FLUXKIT_RC_TEST_UNDEFINED}/y\n", "run.rc"); });
  EXPECT_EQ(e.file(), "run.rc");
  EXPECT_EQ(e.variable(), "FLUXKIT_RC_TEST_UNDEFINED");
  EXPECT_CONTAINS(e.what(), "line 3");
  EXPECT_CONTAINS(e.what(), "run.rc");
  // A key defined later does not count.
  const auto later = file_error([] { RcFile::parse_string("a : ${b}\nb : 1\n", "late.rc"); });
  EXPECT_CONTAINS(later.what(), "line 1");
  EXPECT_EQ(later.variable(), "b");
}

TEST(RcLookup, EnvironmentFallbackForMissingKeys) {
  ScopedEnv env("FLUXKIT_RC_TEST_FALLBACK", "42");
  ::unsetenv("FLUXKIT_RC_TEST_ABSENT");
  const auto rc = RcFile::parse_string("FLUXKIT_RC_TEST_SHADOWED : rc\n");
  EXPECT_TRUE(rc.has("FLUXKIT_RC_TEST_FALLBACK"));
  EXPECT_EQ(rc.find("FLUXKIT_RC_TEST_FALLBACK"), "42");
  EXPECT_EQ(rc.get("FLUXKIT_RC_TEST_FALLBACK"), "42");
  EXPECT_EQ(rc.get_int("FLUXKIT_RC_TEST_FALLBACK"), 42);
  EXPECT_EQ(rc.origin("FLUXKIT_RC_TEST_FALLBACK"), "environment");
  EXPECT_FALSE(rc.has("FLUXKIT_RC_TEST_ABSENT"));
  EXPECT_EQ(rc.find("FLUXKIT_RC_TEST_ABSENT"), std::nullopt);
  ScopedEnv shadow("FLUXKIT_RC_TEST_SHADOWED", "env");
  EXPECT_EQ(rc.get("FLUXKIT_RC_TEST_SHADOWED"), "rc");
}

TEST(RcLookup, MissingKeyErrorNamesKeyAndRcFile) {
  const fs::path dir = fresh_dir("missing");
  write_file(dir / "forward.rc", "emissions.categories : biosphere,\n");
  const auto rc = RcFile::parse_file(dir / "forward.rc");
  EXPECT_EQ(rc.source(), (dir / "forward.rc").string());
  for (auto call : {+[](const RcFile& r) { (void)r.get("emissions.biosphere.optimize"); },
                    +[](const RcFile& r) { (void)r.get_bool("emissions.biosphere.optimize"); },
                    +[](const RcFile& r) { (void)r.get_list("emissions.biosphere.optimize"); },
                    +[](const RcFile& r) { (void)r.get_int("emissions.biosphere.optimize"); },
                    +[](const RcFile& r) { (void)r.get_double("emissions.biosphere.optimize"); }}) {
    const auto e = file_error([&] { call(rc); });
    EXPECT_EQ(e.variable(), "emissions.biosphere.optimize");
    EXPECT_EQ(e.file(), (dir / "forward.rc").string());
    EXPECT_CONTAINS(e.what(), "emissions.biosphere.optimize");
    EXPECT_CONTAINS(e.what(), "forward.rc");
  }
  fs::remove_all(dir);
}

TEST(RcWildcard, StarredKeysServeEveryCategory) {
  const auto rc = RcFile::parse_string(
      "emissions.categories : biosphere, fossil, ocean\n"
      "emissions.*.optimize : 0\n"
      "emissions.biosphere.optimize : T\n"
      "emissions.*.error : 1.5\n",
      "w.rc");
  EXPECT_TRUE(rc.get_bool("emissions.biosphere.optimize"));
  EXPECT_FALSE(rc.get_bool("emissions.fossil.optimize"));
  EXPECT_FALSE(rc.get_bool("emissions.ocean.optimize"));
  EXPECT_EQ(rc.origin("emissions.fossil.optimize"), "w.rc:2");
  EXPECT_DOUBLE_EQ(rc.get_double("emissions.ocean.error"), 1.5);
  EXPECT_FALSE(rc.has("emissions.ocean.tcorr"));
  EXPECT_FALSE(rc.has("emissions.ocean"));           // a different number of components
  EXPECT_FALSE(rc.has("observations.ocean.error"));  // a different fixed component
}

TEST(RcWildcard, LiteralStarKeysAndFindParentOrder) {
  const auto rc = RcFile::parse_string(
      "emissions.*.interval : 3h\n"
      "*.b.* : first-component-first\n"
      "a.*.* : later\n"
      "x.*.* : two-stars\n"
      "*.*.*.* : four\n");
  // LUMIA v2020 reads the literal key `emissions.*.interval`.
  EXPECT_EQ(rc.get("emissions.*.interval"), "3h");
  EXPECT_EQ(rc.get("emissions.biosphere.interval"), "3h");
  // findParent replaces one component (left to right), then recurses from the first replacement: "a.b.c"
  // reaches "*.b.*" through "*.b.c" before "a.*.*" through "a.*.c".
  EXPECT_EQ(rc.get("a.b.c"), "first-component-first");
  EXPECT_EQ(rc.get("a.q.c"), "later");
  EXPECT_EQ(rc.get("x.y.z"), "two-stars");
  EXPECT_EQ(rc.get("p.q.r.s"), "four");
  EXPECT_FALSE(rc.has("p.q.r"));
  // One more star is preferred over two: a one-star match exists for "x.b.z" ("x.*.*" needs two).
  const auto rc2 = RcFile::parse_string("x.*.* : two\nx.b.* : one\n*.*.z : other-two\n");
  EXPECT_EQ(rc2.get("x.b.z"), "one");
  // "x.c.z": no one-star key; "*.c.z" (first component first) reaches "*.*.z" before "x.*.z" reaches "x.*.*".
  EXPECT_EQ(rc2.get("x.c.z"), "other-two");
  EXPECT_EQ(rc2.get("x.c.q"), "two");
  EXPECT_EQ(rc2.get("y.c.z"), "other-two");
}

TEST(RcWildcard, LongKeysStayFast) {
  // findParent's search is exponential in the number of components; the lookup here is not.
  std::string key;
  std::string wild;
  for (int i = 0; i < 40; ++i) {
    key += (i ? "." : "") + std::string("k") + std::to_string(i);
    wild += (i ? "." : "") + std::string(i % 2 ? "*" : "k" + std::to_string(i));
  }
  const auto rc = RcFile::parse_string(wild + " : deep\n");
  EXPECT_EQ(rc.get(key), "deep");
  EXPECT_FALSE(rc.has(key + ".x"));
}

TEST(RcValues, ListsDropEmptyItems) {
  const auto rc = RcFile::parse_string(
      "one : biosphere,\n"
      "two : biosphere, fossil\n"
      "gaps : a, b,, c ,\n"
      "single : biosphere\n"
      "empty :\n"
      "commas : , ,\n");
  EXPECT_EQ(rc.get_list("one"), std::vector<std::string>{"biosphere"});
  EXPECT_EQ(rc.get_list("two"), (std::vector<std::string>{"biosphere", "fossil"}));
  EXPECT_EQ(rc.get_list("gaps"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rc.get_list("single"), std::vector<std::string>{"biosphere"});
  EXPECT_TRUE(rc.get_list("empty").empty());
  EXPECT_TRUE(rc.get_list("commas").empty());
}

TEST(RcValues, Booleans) {
  const auto rc = RcFile::parse_string(
      "a : T\nb : F\nc : True\nd : false\ne : 1\nf : 0\ng : TRUE\nh : t\ni : yes\nj : 2\n", "b.rc");
  EXPECT_TRUE(rc.get_bool("a"));
  EXPECT_FALSE(rc.get_bool("b"));
  EXPECT_TRUE(rc.get_bool("c"));
  EXPECT_FALSE(rc.get_bool("d"));
  EXPECT_TRUE(rc.get_bool("e"));
  EXPECT_FALSE(rc.get_bool("f"));
  EXPECT_TRUE(rc.get_bool("g"));
  EXPECT_TRUE(rc.get_bool("h"));
  const auto e = file_error([&] { (void)rc.get_bool("i"); });
  EXPECT_EQ(e.variable(), "i");
  EXPECT_EQ(e.file(), "b.rc:9");
  EXPECT_CONTAINS(e.what(), "'yes'");
  (void)file_error([&] { (void)rc.get_bool("j"); });
}

TEST(RcValues, Numbers) {
  const auto rc = RcFile::parse_string(
      "split : 4\nneg : -7\nplus : +3\nreal : 0.5\nexp : 1e-3\ninf : inf\nbad : 4x\nempty :\nfloat_int : "
      "3.0\n");
  EXPECT_EQ(rc.get_int("split"), 4);
  EXPECT_EQ(rc.get_int("neg"), -7);
  EXPECT_EQ(rc.get_int("plus"), 3);
  EXPECT_DOUBLE_EQ(rc.get_double("real"), 0.5);
  EXPECT_DOUBLE_EQ(rc.get_double("exp"), 1e-3);
  EXPECT_DOUBLE_EQ(rc.get_double("split"), 4.0);
  EXPECT_TRUE(std::isinf(rc.get_double("inf")));
  (void)file_error([&] { (void)rc.get_int("real"); });
  (void)file_error([&] { (void)rc.get_int("float_int"); });
  (void)file_error([&] { (void)rc.get_int("bad"); });
  (void)file_error([&] { (void)rc.get_double("bad"); });
  (void)file_error([&] { (void)rc.get_double("empty"); });
  const auto e = file_error([&] { (void)rc.get_int("bad"); });
  EXPECT_CONTAINS(e.what(), "'4x'");
  EXPECT_EQ(e.variable(), "bad");
}

TEST(RcErrors, MalformedLineNamesFileAndLine) {
  const fs::path dir = fresh_dir("malformed");
  write_file(dir / "bad.rc", "a : 1\n\n! comment\nthis line has no colon\nb : 2\n");
  const auto e = file_error([&] { RcFile::parse_file(dir / "bad.rc"); });
  EXPECT_EQ(e.file(), (dir / "bad.rc").string());
  EXPECT_CONTAINS(e.what(), "line 4");
  EXPECT_CONTAINS(e.what(), "this line has no colon");
  const auto empty_key = file_error([] { RcFile::parse_string("a : 1\n : value\n", "k.rc"); });
  EXPECT_CONTAINS(empty_key.what(), "line 2");
  const auto no_file = file_error([] { RcFile::parse_string("#include\n", "i.rc"); });
  EXPECT_CONTAINS(no_file.what(), "line 1");
  const auto directive = file_error([] { RcFile::parse_string("a : 1\n#includefoo.rc\n", "i.rc"); });
  EXPECT_CONTAINS(directive.what(), "line 2");
  const auto missing = file_error([&] { RcFile::parse_file(dir / "absent.rc"); });
  EXPECT_EQ(missing.file(), (dir / "absent.rc").string());
  (void)file_error([&] { RcFile::parse_file(dir); });  // a directory
  fs::remove_all(dir);
}

TEST(RcInclude, RelativeToTheIncludingFileInOrder) {
  const fs::path dir = fresh_dir("include");
  write_file(dir / "main.rc",
             "a : main\n"
             "sub : sub\n"
             "b : main\n"
             "#include ${sub}/inc.rc\n"
             "c : main-after ! overrides the include\n");
  write_file(dir / "sub" / "inc.rc",
             "b : inc\n"
             "c : inc\n"
             "from.parent : ${a}\n"
             "#include ../common.rc ! a comment\n");
  write_file(dir / "common.rc", "d : common\nemissions.*.optimize : F\n");
  const auto rc = RcFile::parse_file(dir / "main.rc");
  EXPECT_EQ(rc.get("a"), "main");
  EXPECT_EQ(rc.get("b"), "inc");
  EXPECT_EQ(rc.get("c"), "main-after");
  EXPECT_EQ(rc.get("d"), "common");
  EXPECT_EQ(rc.get("from.parent"), "main");
  EXPECT_FALSE(rc.get_bool("emissions.fossil.optimize"));
  EXPECT_EQ(rc.origin("d"), (dir / "sub" / ".." / "common.rc").string() + ":1");
  EXPECT_EQ(rc.origin("b"), (dir / "sub" / "inc.rc").string() + ":1");
  // The same file included twice (not a cycle) is fine.
  write_file(dir / "twice.rc", "#include common.rc\n#include common.rc\n");
  EXPECT_EQ(RcFile::parse_file(dir / "twice.rc").get("d"), "common");
  // parse_string resolves includes against the source's directory.
  EXPECT_EQ(RcFile::parse_string("#include common.rc\n", (dir / "virtual.rc").string()).get("d"), "common");
  fs::remove_all(dir);
}

TEST(RcInclude, MissingIncludeAndCyclesAreErrors) {
  const fs::path dir = fresh_dir("include_errors");
  write_file(dir / "main.rc", "a : 1\n#include nothere.rc\n");
  const auto missing = file_error([&] { RcFile::parse_file(dir / "main.rc"); });
  EXPECT_EQ(missing.file(), (dir / "main.rc").string());
  EXPECT_CONTAINS(missing.what(), "line 2");
  EXPECT_CONTAINS(missing.what(), "nothere.rc");

  write_file(dir / "a.rc", "x : 1\n#include b.rc\n");
  write_file(dir / "b.rc", "y : 2\n\n#include ./sub/../a.rc\n");
  fs::create_directories(dir / "sub");
  const auto cycle = file_error([&] { RcFile::parse_file(dir / "a.rc"); });
  EXPECT_EQ(cycle.file(), (dir / "b.rc").string());
  EXPECT_CONTAINS(cycle.what(), "line 3");
  EXPECT_CONTAINS(cycle.what(), "cycle");
  write_file(dir / "self.rc", "#include self.rc\n");
  EXPECT_CONTAINS(file_error([&] { RcFile::parse_file(dir / "self.rc"); }).what(), "cycle");
  // Devices are not rc files.
  EXPECT_CONTAINS(file_error([] { RcFile::parse_string("#include /dev/zero\n"); }).what(), "/dev/zero");
  fs::remove_all(dir);
}

TEST(RcInclude, InMemoryReader) {
  const std::map<std::string, std::string> files = {
      {"/v/a.rc", "a : 1\n#include sub/b.rc\n"},
      {"/v/sub/b.rc", "b : ${a}2\n"},
      {"/v/loop1.rc", "#include loop2.rc\n"},
      {"/v/loop2.rc", "#include ./loop1.rc\n"},
  };
  const RcFile::IncludeReader reader = [&](const fs::path& p) -> std::optional<std::string> {
    const auto it = files.find(p.lexically_normal().string());
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
  const auto rc = RcFile::parse_string("#include a.rc\nc : ${b}3\n", "/v/main.rc", reader);
  EXPECT_EQ(rc.get("c"), "123");
  EXPECT_CONTAINS(
      file_error([&] { RcFile::parse_string("#include loop1.rc\n", "/v/main.rc", reader); }).what(), "cycle");
  EXPECT_CONTAINS(
      file_error([&] { RcFile::parse_string("#include none.rc\n", "/v/main.rc", reader); }).what(),
      "none.rc");
}

TEST(RcLumia, ForwardAndAdjointKeysOfV2020) {
  // The keys lagrange_mp.py v2020 reads (spec §7), as LUMIA writes them.
  ScopedEnv env("FLUXKIT_RC_TEST_RUN", "/scratch/run");
  const auto rc = RcFile::parse_string(
      "! LUMIA forward rc\n"
      "emissions.categories      : biosphere,\n"
      "emissions.biosphere.optimize : T\n"
      "emissions.*.optimize      : F\n"
      "emissions.biosphere.error : 1.0\n"
      "emissions.biosphere.corr  : 500-g\n"
      "emissions.biosphere.tcorr : 1.0-e-30D\n"
      "optimization.interval     : m\n"
      "model.transport.split     : 4\n"
      "path.run                  : ${FLUXKIT_RC_TEST_RUN}/forward\n"
      "time.start                : 2018, 1, 1\n"
      "time.end                  : 2018, 2, 1, 0, 0\n"
      "emissions.*.interval      : 3h\n"
      "region                    : eurocom\n"
      "region.eurocom.lat0       : 33\n"
      "region.eurocom.lat1       : 73\n"
      "region.eurocom.dlat       : 0.5\n");
  EXPECT_EQ(rc.get_list("emissions.categories"), std::vector<std::string>{"biosphere"});
  EXPECT_TRUE(rc.get_bool("emissions.biosphere.optimize"));
  EXPECT_FALSE(rc.get_bool("emissions.fossil.optimize"));
  EXPECT_EQ(rc.get_int("model.transport.split"), 4);
  EXPECT_EQ(rc.get("path.run"), "/scratch/run/forward");
  EXPECT_EQ(rc.get_list("time.end"), (std::vector<std::string>{"2018", "2", "1", "0", "0"}));
  EXPECT_EQ(rc.get("emissions.*.interval"), "3h");
  const std::string region = rc.get("region");
  EXPECT_DOUBLE_EQ(rc.get_double("region." + region + ".dlat"), 0.5);
}

}  // namespace
}  // namespace fluxkit::transport
