// Tests for fluxkit::numpy_compat. Expected values were computed with Debian 12's /usr/bin/python3,
// python3-numpy 1.24.2 and python3-pandas 1.5.3 and are hard-coded; these tests do not call Python.
//
// Checksums are Python's sum((i + 1) * v[i] for i, v in enumerate(values)) % 2**64 (checksum() below).
// Sample positions came from
//   df = pd.DataFrame({"p": np.arange(N)}); df.sample(frac=frac, random_state=42)["p"].tolist()
#include "fluxkit/dataset/numpy_random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fluxkit/core/error.hpp"

namespace fluxkit::numpy_compat {
namespace {

using Positions = std::vector<std::int64_t>;

std::uint64_t checksum(const Positions& v) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i)
    sum += (i + 1) * static_cast<std::uint64_t>(v[i]);
  return sum;
}

Positions head(const Positions& v, std::size_t k) {
  return {v.begin(), v.begin() + std::min(k, v.size())};
}
Positions tail(const Positions& v, std::size_t k) {
  return {v.end() - std::min(k, v.size()), v.end()};
}

// Every value is distinct and in [0, n).
void expect_distinct_in_range(const Positions& v, std::int64_t n) {
  Positions sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_TRUE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  if (!sorted.empty()) {
    EXPECT_GE(sorted.front(), 0);
    EXPECT_LT(sorted.back(), n);
  }
}

std::vector<std::uint32_t> draws32(MT19937& rng, int k) {
  std::vector<std::uint32_t> out;
  for (int i = 0; i < k; ++i)
    out.push_back(rng.next32());
  return out;
}

// --- MT19937 ---------------------------------------------------------------------------------------------

// np.random.RandomState(42).get_state(); outputs = rs.randint(0, 2**32, size=8, dtype=np.uint32).
TEST(NumpyCompat, Mt19937Seed42StateAndOutputs) {
  MT19937 rng(42);
  EXPECT_EQ(rng.position(), 624U);
  EXPECT_EQ(rng.state()[0], 42U);
  EXPECT_EQ(rng.state()[1], 3107752595U);
  EXPECT_EQ(rng.state()[2], 1895908407U);
  EXPECT_EQ(rng.state()[3], 3900362577U);
  EXPECT_EQ(rng.state()[623], 26719530U);
  EXPECT_EQ(draws32(rng, 8),
            (std::vector<std::uint32_t>{1608637542U, 3421126067U, 4083286876U, 787846414U, 3143890026U,
                                        3348747335U, 2571218620U, 2563451924U}));
  // After the first twist and 8 draws.
  EXPECT_EQ(rng.position(), 8U);
  EXPECT_EQ(rng.state()[0], 723970371U);
  EXPECT_EQ(rng.state()[623], 4088152671U);
}

TEST(NumpyCompat, Mt19937Seed0StateAndOutputs) {
  MT19937 rng(0);
  EXPECT_EQ(rng.position(), 624U);
  EXPECT_EQ(rng.state()[0], 0U);
  EXPECT_EQ(rng.state()[1], 1U);
  EXPECT_EQ(rng.state()[2], 1812433255U);
  EXPECT_EQ(rng.state()[3], 1900727105U);
  EXPECT_EQ(rng.state()[623], 1796872496U);
  EXPECT_EQ(draws32(rng, 8),
            (std::vector<std::uint32_t>{2357136044U, 2546248239U, 3071714933U, 3626093760U, 2588848963U,
                                        3684848379U, 2340255427U, 3638918503U}));
  EXPECT_EQ(rng.position(), 8U);
  EXPECT_EQ(rng.state()[0], 2443250962U);
  EXPECT_EQ(rng.state()[623], 1678096082U);
}

// Outputs 1240..1249 (across the second twist): rs.randint(0, 2**32, size=1300, dtype=np.uint32)[1240:1250].
TEST(NumpyCompat, Mt19937Seed42AcrossTwists) {
  MT19937 rng(42);
  for (int i = 0; i < 1240; ++i)
    rng.next32();
  EXPECT_EQ(draws32(rng, 10),
            (std::vector<std::uint32_t>{792511740U, 4235941555U, 899148494U, 2304639278U, 1591165566U,
                                        3968729143U, 2081010389U, 1014112781U, 2655384025U, 3263983643U}));
}

// numpy's legacy seeding is the reference init_genrand, i.e. the engine of std::mt19937.
TEST(NumpyCompat, Mt19937MatchesStdMt19937) {
  for (std::uint32_t seed : {0U, 1U, 42U, 0xffffffffU}) {
    MT19937 rng(seed);
    std::mt19937 ref(seed);
    for (int i = 0; i < 5000; ++i)
      ASSERT_EQ(rng.next32(), ref()) << "seed " << seed << " draw " << i;
  }
}

TEST(NumpyCompat, Mt19937ReseedRestarts) {
  MT19937 rng(7);
  rng.next32();
  rng.init_genrand(42);
  EXPECT_EQ(rng.position(), 624U);
  EXPECT_EQ(rng.next32(), 1608637542U);
}

// rs.randint(0, 2**64, size=2, dtype=np.uint64): the first 32-bit output is the high word.
TEST(NumpyCompat, Next64HighWordFirst) {
  MT19937 rng(42);
  EXPECT_EQ(rng.next64(), 6909045637428952499ULL);
  EXPECT_EQ(rng.next64(), 17537583593393853710ULL);
  EXPECT_EQ(6909045637428952499ULL, (std::uint64_t{1608637542U} << 32) | 3421126067U);
}

// --- random_interval ---------------------------------------------------------------------------------------
// Expected: RandomState(42).randint(0, max + 1, size=5, dtype=np.uint64), numpy's legacy masked bounded
// integers, the same mask-and-reject loop as random_interval (checked equal, including the final state).

std::vector<std::uint64_t> intervals(std::uint64_t max) {
  MT19937 rng(42);
  std::vector<std::uint64_t> out;
  for (int i = 0; i < 5; ++i)
    out.push_back(random_interval(rng, max));
  return out;
}

TEST(NumpyCompat, RandomIntervalZeroDrawsNothing) {
  MT19937 rng(42);
  EXPECT_EQ(random_interval(rng, 0), 0U);
  EXPECT_EQ(rng.position(), 624U);
  EXPECT_EQ(rng.next32(), 1608637542U);
}

TEST(NumpyCompat, RandomInterval32BitPath) {
  using V = std::vector<std::uint64_t>;
  EXPECT_EQ(intervals(1), (V{0, 1, 0, 0, 0}));
  EXPECT_EQ(intervals(6), (V{6, 3, 4, 6, 2}));
  EXPECT_EQ(intervals(1000), (V{102, 435, 860, 270, 106}));
  EXPECT_EQ(intervals(0xffffffffULL), (V{1608637542, 3421126067, 4083286876, 787846414, 3143890026}));
}

TEST(NumpyCompat, RandomInterval64BitPath) {
  using V = std::vector<std::uint64_t>;
  EXPECT_EQ(intervals(0x100000000ULL), (V{3421126067, 787846414, 3348747335, 2563451924, 1914837113}));
  EXPECT_EQ(intervals((1ULL << 40) + 3),
            (V{441507790259ULL, 458615280711ULL, 810017303572ULL, 440001501305ULL, 375095422324ULL}));
  EXPECT_EQ(intervals(std::numeric_limits<std::uint64_t>::max()),
            (V{6909045637428952499ULL, 17537583593393853710ULL, 13502904847239337031ULL,
               11043299886329703444ULL, 2878035897379592313ULL}));
}

// --- permutation -------------------------------------------------------------------------------------------

// np.random.RandomState(seed).permutation(n).
TEST(NumpyCompat, PermutationSmall) {
  EXPECT_EQ(permutation(42, 0), Positions{});
  EXPECT_EQ(permutation(42, 1), (Positions{0}));
  EXPECT_EQ(permutation(42, 2), (Positions{1, 0}));
  EXPECT_EQ(permutation(42, 10), (Positions{8, 1, 5, 0, 7, 2, 9, 4, 3, 6}));
  EXPECT_EQ(permutation(0, 10), (Positions{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}));
}

TEST(NumpyCompat, Permutation1000) {
  const Positions p = permutation(42, 1000);
  ASSERT_EQ(p.size(), 1000U);
  EXPECT_EQ(head(p, 20), (Positions{521, 737, 740, 660, 411, 678, 626, 513, 859, 136,
                                    811, 76,  636, 973, 938, 899, 280, 883, 761, 319}));
  EXPECT_EQ(tail(p, 20), (Positions{130, 663, 871, 99,  372, 87,  458, 330, 214, 466,
                                    121, 614, 20,  700, 71,  106, 270, 860, 435, 102}));
  EXPECT_EQ(checksum(p), 251874299U);
  expect_distinct_in_range(p, 1000);
}

TEST(NumpyCompat, PermutationRejectsNegativeSize) {
  EXPECT_THROW(permutation(42, -1), fluxkit::Error);
}

// --- pandas sample size ------------------------------------------------------------------------------------

// Python: round(frac * n), e.g. 0.45 * 10 = 4.5 -> 4, 0.35 * 10 = 3.5 -> 4, 0.2 * 12 = 2.4000000000000004
// -> 2.
TEST(NumpyCompat, SampleSizeIsPythonRoundHalfToEven) {
  struct Case {
    double frac;
    std::int64_t n;
    std::int64_t expected;
  };
  const Case cases[] = {
      {0.15, 10, 2},      {0.45, 10, 4},
      {0.35, 10, 4},      {0.01, 250, 2},
      {0.01, 350, 4},     {0.1, 25, 2},
      {0.1, 35, 4},       {0.3, 5, 2},
      {1.0 / 3.0, 9, 3},  {0.7, 15, 10},
      {0.01, 42976, 430}, {0.2, 12, 2},
      {0.99999, 1, 1},    {0.5, 1, 0},
      {0.5, 3, 2},        {0.0, 0, 0},
      {1.0, 0, 0},        {0.25, 10, 2},
      {0.5, 7, 4},        {0.0001, 1000, 0},
      {1.0, 5, 5},        {0.5, 1LL << 40, 1LL << 39},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(pandas_sample_size(c.frac, c.n), c.expected) << "frac " << c.frac << " n " << c.n;
  }
}

TEST(NumpyCompat, SampleSizeRejectsBadArguments) {
  EXPECT_THROW(pandas_sample_size(-0.1, 10), fluxkit::Error);
  EXPECT_THROW(pandas_sample_size(1.5, 10), fluxkit::Error);
  EXPECT_THROW(pandas_sample_size(std::nan(""), 10), fluxkit::Error);
  EXPECT_THROW(pandas_sample_size(std::numeric_limits<double>::infinity(), 10), fluxkit::Error);
  EXPECT_THROW(pandas_sample_size(0.5, -1), fluxkit::Error);
  EXPECT_THROW(pandas_sample(1.5, 10), fluxkit::Error);
  try {
    pandas_sample_size(1.5, 10);
  } catch (const fluxkit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("1.5"), std::string::npos) << e.what();
  }
}

// --- pandas sample -----------------------------------------------------------------------------------------

TEST(NumpyCompat, PandasSampleShortCases) {
  EXPECT_EQ(pandas_sample(0.5, 7), (Positions{0, 1, 5, 2}));
  EXPECT_EQ(pandas_sample(0.25, 10), (Positions{8, 1}));  // 2.5 rounds to 2
  EXPECT_EQ(pandas_sample(1.0, 5), (Positions{1, 4, 2, 0, 3}));
  EXPECT_EQ(pandas_sample(0.0001, 1000), Positions{});  // round(0.1) = 0
  EXPECT_EQ(pandas_sample(0.5, 0), Positions{});
  EXPECT_EQ(pandas_sample(0.5, 10, 0), head(permutation(0, 10), 5));
}

TEST(NumpyCompat, PandasSample1PercentOf42976) {
  const Positions s = pandas_sample(0.01, 42976);
  ASSERT_EQ(s.size(), 430U);
  EXPECT_EQ(head(s, 20), (Positions{39273, 20820, 5595,  35606, 25194, 34363, 38833, 28437, 9389, 37116,
                                    15466, 28996, 14807, 36739, 32162, 11163, 26516, 21160, 4969, 465}));
  EXPECT_EQ(tail(s, 5), (Positions{5411, 11355, 12324, 8618, 14283}));
  EXPECT_EQ(checksum(s), 1900034507U);
  expect_distinct_in_range(s, 42976);
}

TEST(NumpyCompat, PandasSample1PercentOf10724) {
  const Positions s = pandas_sample(0.01, 10724);
  ASSERT_EQ(s.size(), 107U);
  EXPECT_EQ(head(s, 20), (Positions{7628, 107,   8789, 7091, 3404, 101,   3905, 7889, 3378, 8664,
                                    7772, 10292, 33,   4687, 6412, 10322, 7529, 7748, 5173, 4816}));
  EXPECT_EQ(tail(s, 5), (Positions{8490, 9748, 7978, 9691, 9027}));
  EXPECT_EQ(checksum(s), 29935015U);
}

// N > 2^16.
TEST(NumpyCompat, PandasSample30PercentOf70001) {
  const Positions s = pandas_sample(0.3, 70001);
  ASSERT_EQ(s.size(), 21000U);
  EXPECT_EQ(head(s, 20), (Positions{46730, 48393, 41416, 34506, 43725, 11615, 24656, 22411, 936,   56364,
                                    25949, 31524, 4678,  16864, 4230,  65711, 3787,  31386, 63361, 9900}));
  EXPECT_EQ(tail(s, 5), (Positions{1216, 19036, 51256, 48198, 2571}));
  EXPECT_EQ(checksum(s), 7745078818481ULL);
  expect_distinct_in_range(s, 70001);
}

TEST(NumpyCompat, PandasSample1PercentOf1500000) {
  const Positions s = pandas_sample(0.01, 1500000);
  ASSERT_EQ(s.size(), 15000U);
  EXPECT_EQ(head(s, 20),
            (Positions{610740, 233172,  1149767, 446241,  31954,  1246056, 858262, 935814, 151067, 1309962,
                       520555, 1142455, 683414,  1416058, 632967, 958839,  452060, 200762, 678536, 9616}));
  EXPECT_EQ(tail(s, 5), (Positions{14617, 882401, 518613, 916787, 580747}));
  EXPECT_EQ(checksum(s), 85350304249474ULL);
}

}  // namespace
}  // namespace fluxkit::numpy_compat
