#include <gtest/gtest.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/context.hpp"

namespace fluxkit {
namespace {

struct DemoParams {
  static constexpr std::string_view kSection = "demo.stage";
  static constexpr std::string_view kDoc = "A demo section.";
  double resolution = 2.0;
  std::int64_t years = 3;
  bool flag = false;
  std::string name = "x";
  std::vector<std::string> names = {"a", "b"};
  std::vector<double> weights = {1.0};
  std::vector<std::int64_t> ids = {};

  template <class V>
  void visit(V&& v) {
    v("resolution", resolution, "Grid spacing.");
    v("years", years, "How many years.");
    v("flag", flag, "A switch.");
    v("name", name, "A name.");
    v("names", names, "Some names.");
    v("weights", weights, "Some weights.");
    v("ids", ids, "Some ids.");
  }
  void validate() const {
    if (resolution <= 0) config::invalid(kSection, "resolution", "must be > 0");
  }
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::register_section<DemoParams>();
    config::register_section<RunParams>();
  }
  static std::string message_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  }
};

TEST_F(ConfigTest, DefaultsWhenSectionAbsent) {
  const auto doc = config::Document::from_string("[run]\nseed = 7\n", "t.toml");
  const auto p = doc.get<DemoParams>();
  EXPECT_DOUBLE_EQ(p.resolution, 2.0);
  EXPECT_EQ(p.names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(doc.get<RunParams>().seed, 7);
}

TEST_F(ConfigTest, ReadsEveryType) {
  const auto doc = config::Document::from_string(
      "[demo.stage]\nresolution = 1\nyears = 5\nflag = true\nname = \"y\"\nnames = [\"c\"]\n"
      "weights = [0.5, 2]\nids = [3, 4]\n",
      "t.toml");
  const auto p = doc.get<DemoParams>();
  EXPECT_DOUBLE_EQ(p.resolution, 1.0);  // an integer is accepted for a float
  EXPECT_EQ(p.years, 5);
  EXPECT_TRUE(p.flag);
  EXPECT_EQ(p.name, "y");
  EXPECT_EQ(p.names, std::vector<std::string>{"c"});
  EXPECT_EQ(p.weights, (std::vector<double>{0.5, 2.0}));
  EXPECT_EQ(p.ids, (std::vector<std::int64_t>{3, 4}));
}

TEST_F(ConfigTest, WrongTypeNamesKeyAndExpectation) {
  const auto doc = config::Document::from_string("[demo.stage]\nyears = 2.5\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc.get<DemoParams>(); }),
            "config t.toml: key 'demo.stage.years': expected an integer, got a float (2.5)");
  const auto doc2 = config::Document::from_string("[demo.stage]\nnames = [\"a\", 3]\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc2.get<DemoParams>(); }),
            "config t.toml: key 'demo.stage.names[1]': expected a string, got an integer (3)");
  const auto doc3 = config::Document::from_string("[demo.stage]\nresolution = \"two\"\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc3.get<DemoParams>(); }),
            "config t.toml: key 'demo.stage.resolution': expected a number, got a string (\"two\")");
}

TEST_F(ConfigTest, UnknownKeySuggestsClosest) {
  const auto doc = config::Document::from_string("[demo.stage]\nresolutoin = 1.0\n", "t.toml");
  EXPECT_EQ(
      message_of([&] { doc.get<DemoParams>(); }),
      "config t.toml: key 'demo.stage.resolutoin': unknown key (did you mean 'demo.stage.resolution'?)");
  const auto doc2 = config::Document::from_string("[demo.stage]\nzzzzzzzzzz = 1.0\n", "t.toml");
  EXPECT_NE(message_of([&] { doc2.get<DemoParams>(); }).find("known keys of [demo.stage]"),
            std::string::npos);
}

TEST_F(ConfigTest, UnknownSectionIsRejected) {
  const auto doc = config::Document::from_string("[demo.stgae]\nresolution = 1.0\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc.check_sections(); }),
            "config t.toml: key 'demo.stgae': unknown section (did you mean [demo.stage]?)");
  const auto doc2 = config::Document::from_string("stray = 1\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc2.check_sections(); }),
            "config t.toml: key 'stray': unknown key outside any section");
  const auto ok =
      config::Document::from_string("[demo.stage]\nresolution = 1.0\n[run]\nseed = 1\n", "t.toml");
  EXPECT_NO_THROW(ok.check_sections());
}

// `--config run.toml --config tuned.toml`: the second file's keys replace the first's, tables merge, the
// rest is kept, and errors name both files.
TEST_F(ConfigTest, MergeLaysALaterFileOverAnEarlierOne) {
  auto doc = config::Document::from_string(
      "[demo.stage]\nresolution = 1.0\nnames = [\"p\"]\nyears = 5\n[run]\nseed = 3\n", "run.toml");
  doc.merge(
      config::Document::from_string("[demo.stage]\nresolution = 0.5\nnames = [\"q\", \"r\"]\n", "best.toml"));
  const auto p = doc.get<DemoParams>();
  EXPECT_DOUBLE_EQ(p.resolution, 0.5);
  EXPECT_EQ(p.names, (std::vector<std::string>{"q", "r"}));  // a list is replaced, not appended to
  EXPECT_EQ(p.years, 5);
  EXPECT_EQ(doc.get<RunParams>().seed, 3);
  EXPECT_EQ(doc.source(), "run.toml + best.toml");
  doc.merge(config::Document::from_string("[demo.stage]\nresolution = -1.0\n", "bad.toml"));
  EXPECT_EQ(message_of([&] { doc.get<DemoParams>(); }),
            "config run.toml + best.toml + bad.toml: key 'demo.stage.resolution': must be > 0");
  // Merging into the empty document of no --config takes the file's name.
  config::Document none;
  none.merge(config::Document::from_string("[run]\nseed = 9\n", "only.toml"));
  EXPECT_EQ(none.source(), "only.toml");
}

// An open section's tables pass check_sections() unchecked (their owner checks them) and are carried into the
// effective configuration with full headers; a misspelt sibling is still an unknown key.
TEST_F(ConfigTest, OpenSectionsAreCarriedVerbatim) {
  config::Document::register_open_section("demo.stage.space");
  const auto doc = config::Document::from_string(
      "[demo.stage]\nyears = 2\n[demo.stage.space.mlp]\nlr = {low = 1e-4, high = 1e-2, log = true}\n"
      "[demo.stage.space.xgboost]\nbooster = \"gbtree\"\n",
      "t.toml");
  EXPECT_NO_THROW(doc.check_sections());
  EXPECT_EQ(doc.get<DemoParams>().years, 2);  // "space" is not an unknown key of [demo.stage]
  const auto text = doc.open_sections_toml();
  const auto back = toml::parse(text);
  EXPECT_EQ(back["demo"]["stage"]["space"]["mlp"]["lr"]["high"].value<double>(), 1e-2);
  EXPECT_EQ(back["demo"]["stage"]["space"]["xgboost"]["booster"].value<std::string>(), "gbtree");
  EXPECT_EQ(config::Document::from_string("[demo.stage]\nyears = 2\n", "t.toml").open_sections_toml(), "");
  const auto typo = config::Document::from_string("[demo.stage.spcae.mlp]\nlr = 1\n", "t.toml");
  EXPECT_NE(message_of([&] { typo.get<DemoParams>(); }).find("key 'demo.stage.spcae': unknown key"),
            std::string::npos);
}

TEST_F(ConfigTest, ValidateGetsSource) {
  const auto doc = config::Document::from_string("[demo.stage]\nresolution = -1\n", "t.toml");
  EXPECT_EQ(message_of([&] { doc.get<DemoParams>(); }),
            "config t.toml: key 'demo.stage.resolution': must be > 0");
  const auto run = config::Document::from_string("[run]\ndevice = \"tpu\"\n", "t.toml");
  EXPECT_NE(message_of([&] { run.get<RunParams>(); }).find("key 'run.device': unknown device 'tpu'"),
            std::string::npos);
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  const std::string msg =
      message_of([] { config::Document::from_string("[demo.stage]\nresolution = = 1\n", "bad.toml"); });
  EXPECT_NE(msg.find("bad.toml: TOML syntax error at line 2"), std::string::npos) << msg;
  const std::string missing = message_of([] { config::Document::from_file("/nonexistent/x.toml"); });
  EXPECT_EQ(missing, "/nonexistent/x.toml: config file not found");
}

TEST_F(ConfigTest, CommandLineOverridesAreTyped) {
  auto doc = config::Document::from_string("[demo.stage]\nresolution = 1.0\n", "t.toml");
  doc.set_from_cli<DemoParams>("resolution", "0.25", double{});
  doc.set_from_cli<DemoParams>("names", "x, y,z", std::vector<std::string>{});
  doc.set_from_cli<DemoParams>("flag", "yes", bool{});
  doc.set_from_cli<DemoParams>("ids", "1,2", std::vector<std::int64_t>{});
  const auto p = doc.get<DemoParams>();
  EXPECT_DOUBLE_EQ(p.resolution, 0.25);
  EXPECT_EQ(p.names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_TRUE(p.flag);
  EXPECT_EQ(p.ids, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(message_of([&] { doc.set_from_cli<DemoParams>("years", "3.5", std::int64_t{}); }),
            "config command line: key 'demo.stage.years': expected an integer, got '3.5'");
  EXPECT_EQ(doc.source(), "t.toml + command line");
}

TEST_F(ConfigTest, SetValueParsesTomlOrString) {
  config::Document doc;
  doc.set_value("demo.stage.resolution", "0.5");
  doc.set_value("demo.stage.name", "plain words");
  doc.set_value("demo.stage.names", "[\"p\", \"q\"]");
  const auto p = doc.get<DemoParams>();
  EXPECT_DOUBLE_EQ(p.resolution, 0.5);
  EXPECT_EQ(p.name, "plain words");
  EXPECT_EQ(p.names, (std::vector<std::string>{"p", "q"}));
  doc.set_value("demo.stage.years", "\"many\"");
  EXPECT_NE(message_of([&] { doc.get<DemoParams>(); }).find("expected an integer"), std::string::npos);
}

TEST_F(ConfigTest, DescribeAndMarkdown) {
  const auto keys = config::describe<DemoParams>();
  ASSERT_EQ(keys.size(), 7u);
  EXPECT_EQ(keys[0].key, "resolution");
  EXPECT_EQ(keys[0].type, "float");
  EXPECT_EQ(keys[0].default_value, "2.0");
  EXPECT_EQ(keys[4].default_value, "[ \"a\", \"b\" ]");
  const std::string md = config::markdown_section(DemoParams::kSection, DemoParams::kDoc, keys);
  EXPECT_NE(md.find("## [demo.stage]"), std::string::npos);
  EXPECT_NE(md.find("| `years` | integer | `3` | How many years. |"), std::string::npos);
}

TEST_F(ConfigTest, RunContext) {
  RunParams run;
  run.threads = 3;
  run.seed = 11;
  run.device = "CUDA";
  const Context ctx = make_context(run);
  EXPECT_EQ(ctx.threads, 3);
  EXPECT_EQ(ctx.seed, 11u);
  EXPECT_EQ(ctx.device, Device::Cuda);
  run.threads = 0;
  EXPECT_EQ(make_context(run).threads, hardware_threads());
  EXPECT_GE(hardware_threads(), 1);
}

}  // namespace
}  // namespace fluxkit
