#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/parallel.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fluxkit_core_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Hash, Fnv1aKnownValues) {
  // Reference values of 64-bit FNV-1a.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(hex64(fnv1a64("foobar")), "85944171f73967e8");
}

TEST(Hash, CounterRandomIsPureAndUniform) {
  EXPECT_EQ(random_bits(1, 2, 3), random_bits(1, 2, 3));
  EXPECT_NE(random_bits(1, 2, 3), random_bits(1, 2, 4));
  EXPECT_NE(random_bits(1, 2, 3), random_bits(2, 2, 3));
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = random_normal(42, 7, static_cast<std::uint64_t>(i));
    sum += z;
    sum2 += z * z;
    const double u = random_uniform(42, 8, static_cast<std::uint64_t>(i));
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum2 / n, 1.0, 0.01);
}

TEST(Parallel, CoversRangeOnceWithAnyThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    Context ctx;
    ctx.threads = threads;
    std::vector<std::atomic<int>> hits(1001);
    parallel_for(ctx, hits.size(), [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i)
        hits[i]++;
    });
    for (const auto& h : hits)
      ASSERT_EQ(h.load(), 1);
  }
}

TEST(Parallel, RethrowsWorkerException) {
  Context ctx;
  ctx.threads = 4;
  EXPECT_THROW(parallel_for(ctx, 100,
                            [](std::size_t b, std::size_t) {
                              if (b > 0) throw Error("boom");
                            }),
               Error);
}

TEST(Parallel, ForEachCoversEveryIndexOnceAndRethrows) {
  for (int threads : {1, 2, 3, 8}) {
    Context ctx;
    ctx.threads = threads;
    for (std::size_t n : {0u, 1u, 2u, 11u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      parallel_for_each(ctx, n, [&](std::size_t i) { hits[i]++; });
      for (const auto& h : hits)
        ASSERT_EQ(h.load(), 1) << threads << " threads, n = " << n;
    }
  }
  Context ctx;
  ctx.threads = 2;
  EXPECT_THROW(parallel_for_each(ctx, 11,
                                 [](std::size_t i) {
                                   if (i == 7) throw Error("boom");
                                 }),
               Error);
}

TEST(AtomicFile, CommitReplacesAndAbortKeepsOriginal) {
  const fs::path dir = fresh_dir("atomic");
  const fs::path target = dir / "sub" / "table.csv";
  write_text_atomic(target, "a,b\n1,2\n");
  EXPECT_EQ(slurp(target), "a,b\n1,2\n");
  {
    AtomicFile f(target);
    std::ofstream(f.temp_path()) << "partial";
    EXPECT_TRUE(fs::exists(f.temp_path()));
    EXPECT_NE(f.temp_path().filename().string().find(".tmp-"), std::string::npos);
    // destroyed without commit: an interrupted write
  }
  EXPECT_EQ(slurp(target), "a,b\n1,2\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(target.parent_path()), fs::directory_iterator{}), 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, FailedRenameNamesTarget) {
  const fs::path dir = fresh_dir("atomic_fail");
  AtomicFile f(dir / "x.txt");
  // No temp file was written, so the rename fails.
  try {
    f.commit();
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(e.file(), (dir / "x.txt").string());
  }
  fs::remove_all(dir);
}

TEST(Progress, Formatting) {
  EXPECT_EQ(Progress::format_duration(42.4), "42 s");
  EXPECT_EQ(Progress::format_duration(185), "3 min 05 s");
  EXPECT_EQ(Progress::format_duration(7620), "2 h 07 min");
  EXPECT_EQ(Progress::render_line("synth", 5, 10, "years", 10.0, 10),
            "synth: [=====     ] 5/10 years (50%), 0.5 years/s, ETA 10 s");
  EXPECT_EQ(Progress::render_line("synth", 0, 10, "years", 0.0, 0),
            "synth: 0/10 years (0%), 0 years/s, ETA ?");
}

// What a killed run leaves (hidden temp files and directories of a process that no longer runs) goes when the
// target is next committed; a running process's temp files, other targets' and ordinary files stay.
TEST(AtomicFile, CommitRemovesStaleTemporariesOfDeadProcesses) {
  const fs::path dir = fresh_dir("stale");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // a pid that no longer runs
  const std::string dead = std::to_string(child), alive = std::to_string(::getppid());
  for (const std::string& name :
       {".t.nc.tmp-" + dead + "-0", ".t.nc.tmp-" + dead + "-7", ".t.nc.tmp-" + alive + "-0",
        ".u.nc.tmp-" + dead + "-0", ".t.nc.tmpx-" + dead, "t.nc.tmp-" + dead + "-0"})
    std::ofstream(dir / name) << "partial";
  fs::create_directories(dir / (".t.nc.old-" + dead) / "inner");
  write_text_atomic(dir / "t.nc", "done");
  EXPECT_EQ(slurp(dir / "t.nc"), "done");
  EXPECT_FALSE(fs::exists(dir / (".t.nc.tmp-" + dead + "-0")));
  EXPECT_FALSE(fs::exists(dir / (".t.nc.tmp-" + dead + "-7")));
  EXPECT_FALSE(fs::exists(dir / (".t.nc.old-" + dead)));
  EXPECT_TRUE(fs::exists(dir / (".t.nc.tmp-" + alive + "-0")));  // its process still runs
  EXPECT_TRUE(fs::exists(dir / (".u.nc.tmp-" + dead + "-0")));   // another target's
  EXPECT_TRUE(fs::exists(dir / (".t.nc.tmpx-" + dead)));
  EXPECT_TRUE(fs::exists(dir / ("t.nc.tmp-" + dead + "-0")));  // not hidden: not ours
  fs::remove_all(dir);
}

TEST(Provenance, SourceDateEpochLeavesDurationsOut) {
  ::unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_FALSE(reproducible_files());
  EXPECT_EQ(seconds_for_file(1.23456), "1.235");
  EXPECT_EQ(seconds_for_file(1.26, 1), "1.3");
  ::setenv("SOURCE_DATE_EPOCH", "0", 1);
  EXPECT_TRUE(reproducible_files());
  EXPECT_EQ(seconds_for_file(1.23456), "");
  ::unsetenv("SOURCE_DATE_EPOCH");
}

TEST(Provenance, SourceDateEpochFixesTimestamp) {
  ::setenv("SOURCE_DATE_EPOCH", "86400", 1);
  EXPECT_EQ(utc_timestamp(), "1970-01-02T00:00:00Z");
  const auto p = Provenance::make("fnv1a64:0", "fluxkit synth ocean");
  EXPECT_EQ(p.creation_date, "1970-01-02T00:00:00Z");
  EXPECT_EQ(p.software.rfind("fluxkit ", 0), 0u);
  EXPECT_FALSE(p.git_commit.empty());
  ::setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
  EXPECT_THROW(utc_timestamp(), Error);
  ::unsetenv("SOURCE_DATE_EPOCH");
  EXPECT_EQ(utc_timestamp().size(), 20u);
}

}  // namespace
}  // namespace fluxkit

// The load the policy is chosen on never exceeds the 1-minute average: a cap on it, not another estimate.
TEST(Context, CurrentLoadIsCappedByTheOneMinuteAverage) {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) GTEST_SKIP() << "no /proc/loadavg";
  double before = 0;
  ASSERT_EQ(std::fscanf(f, "%lf", &before), 1);
  std::fclose(f);
  const double load = fluxkit::current_load();
  EXPECT_GE(load, 0.0);
  EXPECT_LE(load, before + 0.5);  // the average may move between the two reads, by little
}

// A task runnable in one or two looks (a job ending, a kernel thread) does not count; one seen in three does.
TEST(Context, RunnableTasksCountOnlyWhenSeenInThreeLooks) {
  using fluxkit::detail::tasks_seen_in_three_looks;
  EXPECT_EQ(tasks_seen_in_three_looks({0, 0, 0, 0, 1, 0, 0, 0, 0, 0}), 0);
  EXPECT_EQ(tasks_seen_in_three_looks({0, 2, 0, 0, 1, 0, 0, 0, 0, 0}), 0);
  EXPECT_EQ(tasks_seen_in_three_looks({1, 0, 0, 1, 0, 0, 1, 0, 0, 0}), 1);
  EXPECT_EQ(tasks_seen_in_three_looks({2, 2, 1, 2, 2, 2, 2, 3, 2, 2}), 2);
  EXPECT_EQ(tasks_seen_in_three_looks({-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}), -1);
  EXPECT_EQ(tasks_seen_in_three_looks({4, 4}), -1);
}

// The OpenMP wait policy per verb: one process keeps the runtime's default, several ranks with thread teams
// on one machine get PASSIVE, and a policy the user set is never changed. Run in a child process: the
// variable is process-wide.
TEST(Context, OpenMpWaitPolicyPerProcessCount) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int failures = 0;
    ::unsetenv("OMP_WAIT_POLICY");
    const int cores = fluxkit::hardware_threads();
    failures += fluxkit::choose_openmp_wait_policy(1, cores, 0.0) != "";  // an idle machine to itself
    failures += std::getenv("OMP_WAIT_POLICY") != nullptr;
    failures += fluxkit::choose_openmp_wait_policy(4, 1, 9.0) != "";  // one thread per rank: nothing spins
    failures += std::getenv("OMP_WAIT_POLICY") != nullptr;
    if (cores >= 2) {
      failures += fluxkit::choose_openmp_wait_policy(1, 2, cores - 1.0) != "PASSIVE";  // cores taken
      ::unsetenv("OMP_WAIT_POLICY");
    }
    failures += fluxkit::choose_openmp_wait_policy(2, 2, 0.0) != "PASSIVE";  // two ranks
    const char* set = std::getenv("OMP_WAIT_POLICY");
    failures += set == nullptr || std::string(set) != "PASSIVE";
    ::setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
    failures += fluxkit::choose_openmp_wait_policy(2, 2, 9.0) != "ACTIVE";
    failures += std::string(std::getenv("OMP_WAIT_POLICY")) != "ACTIVE";
    _exit(failures);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "failed checks in the child";
}
