// [train] ensemble: members that differ only in their seed, the artifact layout, N = 1 as without ensembles,
// concurrent members, MPI-style rank splits and skipping finished members.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/dataset/prepare.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/xgboost_model.hpp"
#include "fluxkit/synth/ocean.hpp"
#include "fluxkit/training/train.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
const Provenance kProv{"fluxkit test", "x", "h", "2000-01-01T00:00:00Z", "test"};

std::string bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class TrainEnsemble : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_xgboost_model();
    root_ = fs::temp_directory_path() / ("fluxkit_train_ensemble_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    synth::SynthOceanParams s;
    s.output_dir = (root_ / "data").string();
    s.experiments = {"experiment_5"};
    s.start_year = 1999;
    s.end_year = 2003;
    s.resolution = 10.0;
    synth::generate_ocean(s, Context{}, kProv);
    DataParams data;
    data.root = s.output_dir;
    prepare_.output_dir = (root_ / "samples").string();
    prepare_.train_years = {2000, 2001};
    prepare_.validation_years = {2002, 2002};
    prepare_.test_years = {2003, 2003};
    prepare_.test_experiments = {"experiment_5"};
    prepare_.test_regions = {"global"};
    prepare_.train_fraction = prepare_.validation_fraction = 0.5;
    prepare_samples(prepare_, data, Context{}, kProv);
    XGBoostParams xp;
    xp.booster = "gbtree";
    xp.n_estimators = 8;
    xp.max_depth = 3;
    hyper_["xgboost"] = config::to_table(xp);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  TrainParams params(const std::string& out, std::int64_t members) const {
    TrainParams p;
    p.models = {"xgboost"};
    p.output_dir = (root_ / out).string();
    p.seed = 7;
    p.ensemble = members;
    p.validate();
    return p;
  }
  std::vector<TrainedModel> train(const TrainParams& p, int threads = 1, int rank = 0, int size = 1) const {
    const SampleStore tr(prepare_.train_path()), va(prepare_.validation_path());
    Context ctx;
    ctx.threads = threads;
    return train_models(p, tr, va, hyper_, false, ctx, kProv, rank, size);
  }

  static inline fs::path root_;
  static inline PrepareParams prepare_;
  static inline std::map<std::string, toml::table> hyper_;
};

TEST_F(TrainEnsemble, MembersDifferOnlyInTheirSeed) {
  const auto p = params("ens", 3);
  const auto results = train(p);
  ASSERT_EQ(results.size(), 3u);
  const fs::path dir = fs::path(p.output_dir) / "xgboost";
  EXPECT_FALSE(fs::exists(dir / "model.toml"));
  ASSERT_TRUE(is_ensemble(dir));
  const EnsembleManifest m = read_ensemble_manifest(dir);
  EXPECT_EQ(m.type, "xgboost");
  EXPECT_EQ(m.members, 3);
  EXPECT_EQ(m.base_seed, 7u);
  EXPECT_EQ(m.member_dirs, (std::vector<std::string>{"member_0", "member_1", "member_2"}));
  const ArtifactInfo first = read_artifact_info(dir / "member_0");
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(results[static_cast<std::size_t>(k)].member, k);
    EXPECT_EQ(results[static_cast<std::size_t>(k)].members, 3);
    EXPECT_EQ(results[static_cast<std::size_t>(k)].artifact, ensemble_member_dir(dir, k));
    const ArtifactInfo info = read_artifact_info(ensemble_member_dir(dir, k));
    EXPECT_EQ(info.seed, 7u + static_cast<unsigned>(k));
    // Same data: the same store fingerprints, statistics and subsample seed.
    EXPECT_EQ(info.train_fingerprint, first.train_fingerprint);
    EXPECT_EQ(info.validation_fingerprint, first.validation_fingerprint);
    EXPECT_FALSE(info.train_fingerprint.empty());
    EXPECT_EQ(info.subsample_seed, first.subsample_seed);
    EXPECT_EQ(info.stats.target_mean, first.stats.target_mean);
    EXPECT_EQ(info.stats.feature_std, first.stats.feature_std);
    EXPECT_TRUE(
        fs::exists(fs::path(p.output_dir) / "xgboost.work" / fmt::format("member_{}", k) / "losses.csv"));
  }
  // Same hyper-parameters, different weights (subsample and colsample_bytree < 1 make the seed matter).
  for (int k = 1; k < 3; ++k) {
    const fs::path a = dir / "member_0", b = ensemble_member_dir(dir, k);
    EXPECT_TRUE(artifact_up_to_date(b, "xgboost", 7u + static_cast<unsigned>(k), first.train_fingerprint,
                                    first.validation_fingerprint, hyper_.at("xgboost")));
    EXPECT_NE(bytes(a / "model.json"), bytes(b / "model.json")) << k;
  }

  // N = 1 is a single artifact in <output_dir>/<model>, exactly member 0 (same seed, same threads).
  const auto single = params("single", 1);
  const auto one = train(single);
  ASSERT_EQ(one.size(), 1u);
  const fs::path sdir = fs::path(single.output_dir) / "xgboost";
  EXPECT_EQ(one[0].artifact, sdir);
  EXPECT_EQ(one[0].members, 1);
  EXPECT_TRUE(fs::exists(sdir / "model.toml"));
  EXPECT_FALSE(fs::exists(sdir / kEnsembleManifest));
  EXPECT_FALSE(fs::exists(sdir / "member_0"));
  EXPECT_TRUE(fs::exists(fs::path(single.output_dir) / "xgboost.work" / "losses.csv"));
  EXPECT_EQ(read_artifact_info(sdir).seed, 7u);
  EXPECT_EQ(bytes(sdir / "model.json"), bytes(dir / "member_0" / "model.json"));

  // load_model_dir: the single artifact as itself, the ensemble as its members' mean.
  const SampleStore va(prepare_.validation_path());
  const std::size_t n = 16, width = va.flat_width();
  std::vector<std::uint64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i)
    ids[i] = i * 7;
  std::vector<float> x(n * width), y(n), mean(n), member(n);
  va.gather_flat(ids, x, y);
  const LoadedModel lone = load_model_dir(sdir), ens = load_model_dir(dir);
  EXPECT_EQ(lone.model->describe().find("mean of"), std::string::npos);
  EXPECT_EQ(ens.model->describe().rfind("mean of 3 members", 0), 0u) << ens.model->describe();
  EXPECT_EQ(ens.info.seed, 7u);  // member 0's info
  ens.model->predict(x, n, mean, Context{});
  std::vector<double> sum(n, 0.0);
  for (int k = 0; k < 3; ++k) {
    load_artifact(ensemble_member_dir(dir, k)).model->predict(x, n, member, Context{});
    for (std::size_t i = 0; i < n; ++i)
      sum[i] += member[i];
  }
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_NEAR(mean[i], sum[i] / 3, 1e-6) << i;
  // A member with other statistics, and a missing member, are errors naming them.
  const fs::path odd = root_ / "odd" / "xgboost";
  fs::create_directories(odd.parent_path());
  fs::copy(dir, odd, fs::copy_options::recursive);
  {
    std::string toml = bytes(odd / "member_1" / "model.toml");
    const auto at = toml.find("target_mean = ");
    ASSERT_NE(at, std::string::npos);
    toml.insert(at + 14, "1");
    std::ofstream(odd / "member_1" / "model.toml") << toml;
  }
  try {
    (void)load_model_dir(odd);
    FAIL() << "members with other statistics accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("member 1"), std::string::npos) << e.what();
  }
  fs::remove_all(odd / "member_2");
  try {
    (void)load_model_dir(odd);
    FAIL() << "a missing member accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("member_2"), std::string::npos) << e.what();
  }
}

TEST_F(TrainEnsemble, FinishedMembersAreSkippedAndStaleOnesReplaced) {
  const auto p = params("resume", 3);
  train(p);
  const fs::path dir = fs::path(p.output_dir) / "xgboost";
  const auto before = fs::last_write_time(dir / "member_0" / "model.toml");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // An interrupted run: member 2 missing. Only it is trained again.
  fs::remove_all(dir / "member_2");
  const auto again = train(p);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_TRUE(again[0].skipped);
  EXPECT_TRUE(again[1].skipped);
  EXPECT_FALSE(again[2].skipped);
  EXPECT_DOUBLE_EQ(again[0].validation_mse, read_artifact_info(dir / "member_0").best_validation_loss);
  EXPECT_EQ(fs::last_write_time(dir / "member_0" / "model.toml"), before);
  EXPECT_TRUE(fs::exists(dir / "member_2" / "model.toml"));
  // Other hyper-parameters: nothing is up to date.
  auto changed = hyper_;
  changed["xgboost"].insert_or_assign("max_depth", 2);
  const SampleStore tr(prepare_.train_path()), va(prepare_.validation_path());
  for (const auto& r : train_models(p, tr, va, changed, false, Context{}, kProv))
    EXPECT_FALSE(r.skipped);
  // A smaller ensemble removes the members it no longer has; a single model replaces the ensemble.
  const auto two = train(params("resume", 2));
  EXPECT_EQ(two.size(), 2u);
  EXPECT_FALSE(fs::exists(dir / "member_2"));
  EXPECT_EQ(read_ensemble_manifest(dir).members, 2);
  train(params("resume", 1));
  EXPECT_TRUE(fs::exists(dir / "model.toml"));
  EXPECT_FALSE(fs::exists(dir / "member_0"));
  EXPECT_FALSE(is_ensemble(dir));
  // And an ensemble replaces a single model.
  train(params("resume", 2));
  EXPECT_FALSE(fs::exists(dir / "model.toml"));
  EXPECT_TRUE(is_ensemble(dir));
}

TEST_F(TrainEnsemble, ConcurrentMembersSplitTheThreadsAndRanksSplitTheMembers) {
  // Two threads, three members: members 0 and 1 at the same time with one thread each, then member 2 with
  // both.
  const auto p = params("parallel", 3);
  const auto results = train(p, 2);
  ASSERT_EQ(results.size(), 3u);
  const fs::path dir = fs::path(p.output_dir) / "xgboost";
  EXPECT_EQ(read_artifact_info(ensemble_member_dir(dir, 0)).threads, 1);
  EXPECT_EQ(read_artifact_info(ensemble_member_dir(dir, 1)).threads, 1);
  EXPECT_EQ(read_artifact_info(ensemble_member_dir(dir, 2)).threads, 2);
  // With one thread each, the same members as trained one after the other.
  const auto serial = params("serial", 3);
  train(serial, 1);
  for (int k = 0; k < 2; ++k)
    EXPECT_EQ(bytes(ensemble_member_dir(dir, k) / "model.json"),
              bytes(ensemble_member_dir(fs::path(serial.output_dir) / "xgboost", k) / "model.json"))
        << k;

  // Ranks: tasks round-robin; rank 1 of 2 trains member 1 only, rank 0 members 0 and 2.
  const auto r = params("ranks", 3);
  const auto rank1 = train(r, 1, 1, 2);
  ASSERT_EQ(rank1.size(), 1u);
  EXPECT_EQ(rank1[0].member, 1);
  const fs::path rdir = fs::path(r.output_dir) / "xgboost";
  EXPECT_FALSE(fs::exists(rdir / "member_0"));
  EXPECT_TRUE(fs::exists(rdir / "member_1" / "model.toml"));
  const auto rank0 = train(r, 1, 0, 2);
  ASSERT_EQ(rank0.size(), 2u);
  EXPECT_EQ(rank0[0].member, 0);
  EXPECT_EQ(rank0[1].member, 2);
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(bytes(ensemble_member_dir(rdir, k) / "model.json"),
              bytes(ensemble_member_dir(fs::path(serial.output_dir) / "xgboost", k) / "model.json"))
        << k;
  EXPECT_THROW(train(r, 1, 2, 2), Error);
}

TEST(TrainParamsEnsemble, MembersAndValidation) {
  TrainParams p;
  p.models = {"mlp", "xgboost"};
  EXPECT_EQ(p.members("mlp"), 1);
  p.ensemble = 4;
  EXPECT_EQ(p.members("mlp"), 4);
  EXPECT_EQ(p.members("xgboost"), 4);
  p.ensemble_models = {"xgboost"};
  EXPECT_EQ(p.members("mlp"), 1);
  EXPECT_EQ(p.members("xgboost"), 4);
  p.validate();
  Context ctx;
  ctx.seed = 100;
  const auto tasks = train_tasks(p, ctx);
  ASSERT_EQ(tasks.size(), 5u);
  EXPECT_EQ(tasks[0].artifact, fs::path("models") / "mlp");
  EXPECT_EQ(tasks[0].seed, 100u);
  EXPECT_EQ(tasks[4].artifact, fs::path("models") / "xgboost" / "member_3");
  EXPECT_EQ(tasks[4].work_dir, fs::path("models") / "xgboost.work" / "member_3");
  EXPECT_EQ(tasks[4].seed, 103u);
  auto key_of = [](TrainParams q) {
    try {
      q.validate();
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string();
  };
  TrainParams bad = p;
  bad.ensemble = 0;
  EXPECT_EQ(key_of(bad), "train.ensemble");
  bad = p;
  bad.ensemble_models = {"lstm"};
  EXPECT_EQ(key_of(bad), "train.ensemble_models");
}

}  // namespace
}  // namespace fluxkit
