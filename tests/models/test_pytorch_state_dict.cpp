// State dicts written by torch.save (Debian's python3-torch 1.13, tests/models/data/make_state_dicts.py) read
// back exactly; every malformed or unsupported file is a FileError naming the file and the problem.
#include <gtest/gtest.h>

#include "common/temp_dir.hpp"

#include <unistd.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/models/pytorch_state_dict.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

fs::path data_file(const std::string& name) {
  return fs::path(FLUXKIT_SOURCE_DIR "/tests/models/data") / name;
}

struct TempDir : fluxkit::testing::TempDir {
  TempDir() : fluxkit::testing::TempDir("fluxkit_test_state_dict") {}
};

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// <name>.expected: key|dtype|shape|values, shape and values space-separated.
struct Expected {
  std::string key;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep))
    parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

std::vector<Expected> read_expected(const std::string& name) {
  std::ifstream in(data_file(name));
  EXPECT_TRUE(in) << name;
  std::vector<Expected> out;
  std::string line;
  while (std::getline(in, line)) {
    const auto f = split(line, '|');
    if (f.size() != 4) {
      ADD_FAILURE() << name << ": bad line " << line;
      continue;
    }
    Expected e{f[0], f[1], {}, {}};
    for (const auto& s : split(f[2], ' '))
      e.shape.push_back(std::stoll(s));
    for (const auto& s : split(f[3], ' '))
      e.values.push_back(std::strtof(s.c_str(), nullptr));
    out.push_back(std::move(e));
  }
  return out;
}

void expect_matches(const std::string& pt, const std::string& expected_name) {
  SCOPED_TRACE(pt);
  const auto expected = read_expected(expected_name);
  ASSERT_FALSE(expected.empty());
  const auto got = read_pytorch_state_dict(data_file(pt));
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto& [key, t] = got[i];
    const Expected& e = expected[i];
    SCOPED_TRACE(e.key);
    EXPECT_EQ(key, e.key);
    EXPECT_EQ(t.dtype, e.dtype);
    EXPECT_EQ(t.shape, e.shape);
    std::int64_t numel = 1;
    for (const auto n : t.shape)
      numel *= n;
    EXPECT_EQ(static_cast<std::int64_t>(t.values.size()), numel);
    EXPECT_EQ(t.values, e.values);  // exact: float32 values print and parse back exactly
  }
}

// The FileError message names the file and contains every fragment; `variable` is the state-dict key.
void expect_error(const fs::path& file, const std::vector<std::string>& fragments,
                  const std::string& variable = "") {
  SCOPED_TRACE(file.string());
  try {
    read_pytorch_state_dict(file);
    ADD_FAILURE() << "no error";
  } catch (const FileError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.file(), file.string());
    EXPECT_EQ(e.variable(), variable) << what;
    EXPECT_NE(what.find(file.string()), std::string::npos) << what;
    for (const auto& f : fragments)
      EXPECT_NE(what.find(f), std::string::npos) << "'" << f << "' in: " << what;
  }
}

// ---- readable files --------------------------------------------------------------------------------------

TEST(PyTorchStateDict, Mlp) {
  expect_matches("mlp.pt", "mlp.expected");
  const auto sd = read_pytorch_state_dict(data_file("mlp.pt"));
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd)
    keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight",
                                            "layers.1.bias", "output_layer.weight", "output_layer.bias"}));
  EXPECT_EQ(sd[0].second.shape, (std::vector<std::int64_t>{5, 4}));
  EXPECT_EQ(sd[4].second.shape, (std::vector<std::int64_t>{1, 3}));
}

TEST(PyTorchStateDict, PickleProtocol4) {
  expect_matches("mlp_protocol4.pt", "mlp.expected");
}
TEST(PyTorchStateDict, Zip64Archive) {
  expect_matches("mlp_zip64.pt", "mlp.expected");
}
TEST(PyTorchStateDict, PlainDict) {
  expect_matches("plain_dict.pt", "plain_dict.expected");
}

TEST(PyTorchStateDict, TwoLayerLstm) {
  expect_matches("lstm.pt", "lstm.expected");
  const auto sd = read_pytorch_state_dict(data_file("lstm.pt"));
  ASSERT_EQ(sd.size(), 10U);
  EXPECT_EQ(sd[0].first, "lstm.weight_ih_l0");
  EXPECT_EQ(sd[0].second.shape, (std::vector<std::int64_t>{16, 3}));
  EXPECT_EQ(sd[5].first, "lstm.weight_hh_l1");
  EXPECT_EQ(sd[9].first, "fc1.bias");
}

TEST(PyTorchStateDict, AttentionLstm) {
  expect_matches("attention_lstm.pt", "attention_lstm.expected");
}

TEST(PyTorchStateDict, DtypesViewsBuffersAndNumbers) {
  expect_matches("dtypes_views.pt", "dtypes_views.expected");
  const auto sd = read_pytorch_state_dict(data_file("dtypes_views.pt"));
  const auto find = [&](const std::string& key) -> const StateTensor& {
    for (const auto& [k, t] : sd) {
      if (k == key) return t;
    }
    throw std::runtime_error("no " + key);
  };
  // Views share base's storage: a row at offset 6, the last three rows at offset 3.
  const auto& base = find("base").values;
  EXPECT_EQ(find("row_view").values, std::vector<float>(base.begin() + 6, base.begin() + 9));
  EXPECT_EQ(find("tail_view").values, std::vector<float>(base.begin() + 3, base.end()));
  EXPECT_EQ(find("bn.num_batches_tracked").dtype, "int64");
  EXPECT_TRUE(find("bn.num_batches_tracked").shape.empty());
  EXPECT_EQ(find("bn.num_batches_tracked").values, std::vector<float>{1.0F});
  EXPECT_EQ(find("int8").values, (std::vector<float>{-128.0F, 127.0F}));
  EXPECT_EQ(find("float16").values[2], 65504.0F);
  EXPECT_TRUE(find("empty").values.empty());
  EXPECT_EQ(find("empty").shape, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(find("py_big_int").values, std::vector<float>{1099511627776.0F});
}

// ---- files that are not (readable) state dicts ------------------------------------------------------------

TEST(PyTorchStateDict, LegacyFormat) {
  expect_error(data_file("legacy.pt"), {"_use_new_zipfile_serialization=False", "re-save"});
}

TEST(PyTorchStateDict, TruncatedFile) {
  TempDir dir;
  const std::string bytes = read_bytes(data_file("mlp.pt"));
  for (const std::size_t keep : {bytes.size() / 2, bytes.size() - 10, bytes.size() - 22, std::size_t{100}}) {
    write_bytes(dir / "cut.pt", bytes.substr(0, keep));
    expect_error(dir / "cut.pt", {"truncated"});
  }
}

TEST(PyTorchStateDict, CorruptByteFailsTheCrc) {
  TempDir dir;
  std::string bytes = read_bytes(data_file("mlp.pt"));
  const auto pkl = bytes.find("collections");  // inside mlp/data.pkl
  ASSERT_NE(pkl, std::string::npos);
  bytes[pkl] = 'C';
  write_bytes(dir / "corrupt.pt", bytes);
  expect_error(dir / "corrupt.pt", {"mlp/data.pkl", "CRC mismatch"});
}

TEST(PyTorchStateDict, NotAZip) {
  TempDir dir;
  write_bytes(dir / "text.pt", "layers.0.weight = [1, 2, 3]\n");
  expect_error(dir / "text.pt", {"not a zip archive"});
  write_bytes(dir / "empty.pt", "");
  expect_error(dir / "empty.pt", {"empty file"});
  expect_error(dir / "missing.pt", {"file not found"});
  write_bytes(dir / "pickle.pkl", std::string("\x80\x02}q\x00.", 6));
  expect_error(dir / "pickle.pkl", {"bare pickle"});
}

TEST(PyTorchStateDict, ZipWithoutDataPkl) {
  expect_error(data_file("no_data_pkl.zip"), {"no <name>/data.pkl"});
}

TEST(PyTorchStateDict, CompressedEntry) {
  expect_error(data_file("compressed.pt"), {"zip entry 'mlp/data.pkl' is compressed (deflate)"});
}

TEST(PyTorchStateDict, MissingStorage) {
  expect_error(data_file("missing_storage.pt"), {"storage 'mlp/data/1' is missing"}, "layers.0.bias");
}

TEST(PyTorchStateDict, NonContiguousTensor) {
  // torch.save keeps a transposed view as its storage with strides (1, 3).
  expect_error(data_file("noncontiguous.pt"), {"not contiguous (size [3, 2], stride [1, 3])", "contiguous()"},
               "transposed");
}

TEST(PyTorchStateDict, UnsupportedConstructs) {
  expect_error(data_file("unsupported_global.pt"),
               {"unsupported pickle global 'torch._utils._rebuild_sparse_tensor'"});
  expect_error(data_file("unsupported_dtype.pt"), {"unsupported dtype", "torch.ComplexFloatStorage"});
  expect_error(data_file("unsupported_opcode.pt"), {"unsupported pickle opcode EMPTY_SET (0x8f)"});
  expect_error(data_file("checkpoint.pt"), {"value is a dict, not a tensor"}, "model");
}

// ---- hand-made archives: malformed pickles and storages ---------------------------------------------------

std::uint32_t crc32(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (const unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k)
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFU;
}

void put16(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 2; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}
void put32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}

// A zip archive of stored entries.
void write_zip(const fs::path& p, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const auto offset = static_cast<std::uint32_t>(out.size());
    const auto size = static_cast<std::uint32_t>(data.size());
    const auto name_len = static_cast<std::uint32_t>(name.size());
    put32(out, 0x04034b50);
    for (const std::uint32_t v : {20U, 0U, 0U, 0U, 0U})
      put16(out, v);
    put32(out, crc32(data));
    put32(out, size);
    put32(out, size);
    put16(out, name_len);
    put16(out, 0);
    out += name + data;
    put32(central, 0x02014b50);
    for (const std::uint32_t v : {20U, 20U, 0U, 0U, 0U, 0U})
      put16(central, v);
    put32(central, crc32(data));
    put32(central, size);
    put32(central, size);
    for (const std::uint32_t v : {name_len, 0U, 0U, 0U, 0U})
      put16(central, v);
    put32(central, 0);
    put32(central, offset);
    central += name;
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  for (const std::uint32_t v : {0U, 0U})
    put16(out, v);
  for (int i = 0; i < 2; ++i)
    put16(out, static_cast<std::uint32_t>(entries.size()));
  put32(out, static_cast<std::uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  write_bytes(p, out);
}

std::string unicode(const std::string& s) {
  std::string out = "X";
  put32(out, static_cast<std::uint32_t>(s.size()));
  return out + s;
}
std::string int1(int v) {
  return std::string("K") + static_cast<char>(v);
}

// OrderedDict{'a': tensor(size) on storage '0' (numel elements) at offset, 'b': the same} with _metadata.
std::string state_dict_pickle(int numel, int offset, int size) {
  std::string t =
      "c"
      "torch._utils\n_rebuild_tensor_v2\n"
      "q\x01"
      "((" +
      unicode("storage") + "ctorch\nFloatStorage\n" + unicode("0") + unicode("cpu") + int1(numel) + "tQ" +
      int1(offset) + int1(size) + "\x85" + int1(1) + "\x85\x89h\x00)Rtq\x02R"s;
  return "\x80\x02"
         "ccollections\nOrderedDict\nq\x00)R("s +
         unicode("a") + t + unicode("b") + "h\x01h\x02R" + "u}" + unicode("_metadata") + "h\x00)Rsb."s;
}

std::string floats(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    put32(s, std::bit_cast<std::uint32_t>(static_cast<float>(i) + 0.5F));
  return s;
}

TEST(PyTorchStateDict, HandMadeArchive) {
  TempDir dir;
  write_zip(dir / "ok.pt", {{"arch/data.pkl", state_dict_pickle(4, 1, 3)}, {"arch/data/0", floats(4)}});
  const auto sd = read_pytorch_state_dict(dir / "ok.pt");
  ASSERT_EQ(sd.size(), 2U);
  EXPECT_EQ(sd[0].first, "a");
  EXPECT_EQ(sd[0].second.values, (std::vector<float>{1.5F, 2.5F, 3.5F}));
  EXPECT_EQ(sd[1].first, "b");
  EXPECT_EQ(sd[1].second.values, sd[0].second.values);
}

TEST(PyTorchStateDict, MalformedArchives) {
  TempDir dir;
  const auto check = [&](const std::string& pickle, const std::string& storage,
                         const std::vector<std::string>& fragments, const std::string& variable = "",
                         const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::vector<std::pair<std::string, std::string>> entries = {{"arch/data.pkl", pickle},
                                                                {"arch/data/0", storage}};
    entries.insert(entries.end(), extra.begin(), extra.end());
    write_zip(dir / "bad.pt", entries);
    expect_error(dir / "bad.pt", fragments, variable);
  };
  check(state_dict_pickle(4, 0, 4), floats(2), {"storage 'arch/data/0' has 8 bytes"}, "a");
  check(state_dict_pickle(4, 2, 3), floats(4), {"lies outside its storage"}, "a");
  std::string no_stop = state_dict_pickle(4, 0, 4);
  no_stop.pop_back();
  check(no_stop, floats(4), {"arch/data.pkl", "truncated pickle (no STOP)"});
  check("\x80\x02h\x05.", "", {"memo entry 5 was never stored"});
  check("\x80\x02s.", "", {"SETITEM on an empty stack"});
  check("\x80\x02]q\x00."s, "", {"holds a list, not a state dict"});
  check(
      "\x80\x02"
      "cos\nsystem\n.",
      "", {"unsupported pickle global 'os.system'"});
  check(state_dict_pickle(4, 0, 4), floats(4), {"byte order 'big'"}, "", {{"arch/byteorder", "big"}});
  check(state_dict_pickle(4, 0, 4), floats(4), {"TorchScript"}, "", {{"arch/constants.pkl", "\x80\x02)."}});
}

// Every prefix and many random corruptions of a pickle: a FileError or a result, never a crash.
TEST(PyTorchStateDict, FuzzedPickles) {
  TempDir dir;
  const std::string pickle = state_dict_pickle(4, 0, 4);
  std::mt19937 rng(7);
  std::vector<std::string> variants;
  for (std::size_t n = 0; n < pickle.size(); ++n)
    variants.push_back(pickle.substr(0, n));
  for (int i = 0; i < 600; ++i) {
    std::string p = pickle;
    for (int k = 0; k < 1 + i % 3; ++k)
      p[rng() % p.size()] = static_cast<char>(rng() & 0xFFU);
    variants.push_back(std::move(p));
  }
  int errors = 0;
  for (const auto& p : variants) {
    write_zip(dir / "fuzz.pt", {{"arch/data.pkl", p}, {"arch/data/0", floats(4)}});
    try {
      read_pytorch_state_dict(dir / "fuzz.pt");
    } catch (const FileError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 400);
}

}  // namespace
}  // namespace fluxkit
