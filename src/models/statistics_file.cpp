// training_stats.pkl (a dict of pandas Series and NumPy scalars) read without Python, and model.toml
// statistics. What pandas 1.x/2.x and NumPy 1.x/2.x pickle for such a dict:
//   Series      NEWOBJ pandas.core.series.Series, BUILD {"_mgr": SingleBlockManager, ...}
//   manager     NEWOBJ ...SingleBlockManager, BUILD (axes [Index], values [ndarray], items, extra)
//   Index       pandas.core.indexes.base._new_Index(Index, {"data": ndarray of str, "name": ...})
//   ndarray     numpy.core.multiarray._reconstruct(ndarray, (0,), b"b") BUILD (1, shape, dtype, fortran,
//   data)
//               or, protocol 5, numpy.core.numeric._frombuffer(bytearray, dtype, shape, order); NumPy 2 names
//               the module numpy._core; data is bytes, or a list for object arrays; protocol 2 writes bytes
//               as _codecs.encode(str, "latin1")
//   dtype       numpy.dtype("f8", False, True) BUILD (3, "<", ...)
//   float64     numpy.core.multiarray.scalar(dtype, bytes), or a Python float
#include "fluxkit/models/statistics_file.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "models/pickle.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {

using pickle::Kind;
using pickle::Value;
using pickle::ValuePtr;

class StatsUnpickler final : public pickle::Unpickler {
 public:
  using Unpickler::Unpickler;

 private:
  ValuePtr global(const std::string& module, const std::string& name) override {
    static const std::set<std::string> known = {
        "pandas.core.series.Series",
        "pandas.core.internals.managers.SingleBlockManager",
        "pandas.core.internals.managers.BlockManager",
        "pandas.core.indexes.base._new_Index",
        "pandas.core.indexes.base.Index",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "builtins.slice",
        "__builtin__.slice",  // protocol 2 names builtins as Python 2 did
        "_codecs.encode",
    };
    const std::string full = module + "." + name;
    if (!known.contains(full))
      fail(fmt::format(
          "unsupported pickle global '{}' (training_stats.pkl holds a dict of pandas Series and numbers)",
          full));
    return global_value(module, name);
  }

  // Protocol 2 pickles bytes as _codecs.encode(text, "latin1"): the text's code points are the bytes.
  ValuePtr reduce(ValuePtr callable, ValuePtr args) override {
    if (callable->text != "_codecs.encode") return Unpickler::reduce(callable, args);
    const auto& a = args->items;
    if (a.size() != 2 || a[0]->kind != Kind::String || a[1]->kind != Kind::String || a[1]->text != "latin1")
      fail("_codecs.encode arguments are not (str, 'latin1')");
    auto* v = make(Kind::Binary);
    const std::string& s = a[0]->text;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        v->bytes.push_back(c);
      } else if ((c & 0xE0U) == 0xC0U && i + 1 < s.size()) {  // U+0080..U+00FF: two UTF-8 bytes
        const unsigned cp = ((c & 0x1FU) << 6) | (static_cast<unsigned char>(s[++i]) & 0x3FU);
        if (cp > 0xFF) fail("_codecs.encode of a character beyond latin1");
        v->bytes.push_back(static_cast<unsigned char>(cp));
      } else {
        fail("_codecs.encode of a character beyond latin1");
      }
    }
    return v;
  }
};

pickle::Bytes read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw FileError(path.string(), "", "file not found");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path.string(), "", "cannot open for reading");
  pickle::Bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw FileError(path.string(), "", "read error");
  return data;
}

// Decodes the values of the statistics dict; every error names the file and the dict key.
class Decoder {
 public:
  Decoder(std::string file, std::string key) : file_(std::move(file)), key_(std::move(key)) {}

  [[noreturn]] void fail(const std::string& problem) const { throw FileError(file_, key_, problem); }

  const Value& state_tuple(const Value& v, std::size_t min_items, std::string_view what) const {
    if (v.state == nullptr || v.state->kind != Kind::Tuple || v.state->items.size() < min_items)
      fail(fmt::format("{} without the state pickle gives it", what));
    return *v.state;
  }

  struct Dtype {
    char kind = 0;  // 'f', 'O', ...
    int size = 0;
    bool little = true;
  };

  Dtype dtype(const Value& v) const {
    if (!v.made_by("numpy.dtype") || v.items.empty() || v.items[0]->kind != Kind::String)
      fail("a NumPy array or scalar without its dtype");
    const std::string& code = v.items[0]->text;  // "f8", "O8", ...
    Dtype d;
    d.kind = code.empty() ? '?' : code[0];
    d.size = code.size() > 1 ? std::atoi(code.c_str() + 1) : 0;
    if (v.state != nullptr && v.state->kind == Kind::Tuple && v.state->items.size() > 1 &&
        v.state->items[1]->kind == Kind::String)
      d.little = v.state->items[1]->text != ">";
    return d;
  }

  static double element(const Dtype& d, const unsigned char* p) {
    if (d.size == 8) {
      std::uint64_t bits = 0;
      for (int i = 0; i < 8; ++i)
        bits |= std::uint64_t{p[d.little ? i : 7 - i]} << (8 * i);
      return std::bit_cast<double>(bits);
    }
    std::uint32_t bits = 0;
    for (int i = 0; i < 4; ++i)
      bits |= std::uint32_t{p[d.little ? i : 3 - i]} << (8 * i);
    return std::bit_cast<float>(bits);
  }

  // An ndarray: its dtype, element count and data (bytes, or the items of an object array).
  struct Array {
    Dtype dtype;
    std::int64_t size = 1;
    const Value* data = nullptr;
  };

  std::int64_t count(const Value& shape) const {
    if (shape.kind != Kind::Tuple) fail("a NumPy array whose shape is not a tuple");
    std::int64_t n = 1;
    for (const auto* s : shape.items) {
      if (s->kind != Kind::Int || s->integer < 0 || s->integer > (std::int64_t{1} << 40))
        fail("a NumPy array with a bad shape");
      n *= s->integer;
    }
    if (shape.items.size() != 1)
      fail(fmt::format("a {}-dimensional array, expected one value per feature", shape.items.size()));
    return n;
  }

  Array array(const Value& v) const {
    Array a;
    if (v.made_by("numpy.core.multiarray._reconstruct") || v.made_by("numpy._core.multiarray._reconstruct")) {
      const Value& st = state_tuple(v, 5, "a NumPy array");  // (version, shape, dtype, is_fortran, data)
      a.size = count(*st.items[1]);
      a.dtype = dtype(*st.items[2]);
      a.data = st.items[4];
    } else if (v.made_by("numpy.core.numeric._frombuffer") || v.made_by("numpy._core.numeric._frombuffer")) {
      if (v.items.size() < 3)
        fail("numpy _frombuffer with missing arguments");  // (buffer, dtype, shape, ...)
      a.data = v.items[0];
      a.dtype = dtype(*v.items[1]);
      a.size = count(*v.items[2]);
    } else {
      fail("a value that is not a NumPy array where the Series keeps its data");
    }
    return a;
  }

  std::vector<double> floats(const Value& v) const {
    const Array a = array(v);
    if (a.dtype.kind != 'f' || (a.dtype.size != 8 && a.dtype.size != 4))
      fail(fmt::format("values of dtype '{}{}', expected float64", a.dtype.kind, a.dtype.size));
    if (a.data->kind != Kind::Binary ||
        a.data->bytes.size() != static_cast<std::size_t>(a.size) * static_cast<std::size_t>(a.dtype.size))
      fail("a float array whose data does not match its shape");
    std::vector<double> out(static_cast<std::size_t>(a.size));
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = element(a.dtype, a.data->bytes.data() + i * static_cast<std::size_t>(a.dtype.size));
    return out;
  }

  std::vector<std::string> strings(const Value& v) const {
    const Array a = array(v);
    if (a.dtype.kind != 'O' || a.data->kind != Kind::List ||
        a.data->items.size() != static_cast<std::size_t>(a.size))
      fail("an index that is not an array of feature names");
    std::vector<std::string> out;
    for (const auto* s : a.data->items) {
      if (s->kind != Kind::String) fail("an index whose labels are not all strings (feature names)");
      out.push_back(s->text);
    }
    return out;
  }

  // A pandas Series of floats indexed by name.
  std::pair<std::vector<std::string>, std::vector<double>> series(const Value& v) const {
    if (!v.made_by("pandas.core.series.Series"))
      fail(fmt::format("a {} instead of a pandas Series",
                       v.kind == Kind::Object ? v.callable->text : std::string(pickle::kind_name(v.kind))));
    const Value* mgr = v.state != nullptr ? v.state->get("_mgr") : nullptr;
    if (mgr == nullptr || mgr->kind != Kind::Object) fail("a pandas Series without its data (_mgr)");
    const Value& st = state_tuple(*mgr, 2, "a pandas block manager");  // (axes, values, items, extra)
    if (st.items[0]->kind != Kind::List || st.items[0]->items.size() != 1 ||
        st.items[1]->kind != Kind::List || st.items[1]->items.size() != 1)
      fail("a pandas Series whose block manager does not hold one axis and one block");
    const Value& index = *st.items[0]->items[0];
    if (!index.made_by("pandas.core.indexes.base._new_Index") || index.items.size() < 2)
      fail("a pandas Series whose index is not a plain Index of feature names");
    const Value* data = index.items[1]->get("data");
    if (data == nullptr) fail("a pandas Index without its data");
    auto names = strings(*data);
    auto values = floats(*st.items[1]->items[0]);
    if (names.size() != values.size())
      fail(fmt::format("a Series with {} names and {} values", names.size(), values.size()));
    return {std::move(names), std::move(values)};
  }

  // A Python float or int, or a NumPy float scalar.
  double number(const Value& v) const {
    if (v.kind == Kind::Float) return v.real;
    if (v.kind == Kind::Int) return static_cast<double>(v.integer);
    if (v.made_by("numpy.core.multiarray.scalar") || v.made_by("numpy._core.multiarray.scalar")) {
      if (v.items.size() != 2 || v.items[1]->kind != Kind::Binary) fail("a NumPy scalar without its data");
      const Dtype d = dtype(*v.items[0]);
      if (d.kind != 'f' || (d.size != 8 && d.size != 4) ||
          v.items[1]->bytes.size() != static_cast<std::size_t>(d.size))
        fail(fmt::format("a NumPy scalar of dtype '{}{}', expected a float", d.kind, d.size));
      return element(d, v.items[1]->bytes.data());
    }
    fail(fmt::format("a {} instead of a number",
                     v.kind == Kind::Object ? v.callable->text : std::string(pickle::kind_name(v.kind))));
  }

 private:
  std::string file_, key_;
};

}  // namespace

StatisticsFile read_training_stats_pickle(const fs::path& path) {
  const std::string file = path.string();
  const pickle::Bytes data = read_file(path);
  if (data.empty()) throw FileError(file, "", "empty file, not a pickle");
  if (data[0] != 0x80)
    throw FileError(file, "",
                    data[0] == 'P' && data.size() > 1 && data[1] == 'K'
                        ? "a zip archive (a torch.save file?), not the pickled statistics dict"
                        : "not a pickle of protocol 2 or later (the pickled statistics dict)");
  StatsUnpickler unpickler(data, file, "pickle");
  const Value* root = unpickler.run();
  if (root->kind != Kind::Dict)
    throw FileError(
        file, "",
        fmt::format(
            "holds a {}, not the statistics dict {{feature_mean, feature_std, target_mean, target_std}}",
            root->kind == Kind::Object ? root->callable->text : std::string(pickle::kind_name(root->kind))));
  auto need = [&](const char* key) -> const Value& {
    const Value* v = root->get(key);
    if (v == nullptr) {
      std::vector<std::string> present;
      for (const auto& [k, val] : root->dict)
        present.push_back(k->kind == Kind::String ? k->text : std::string(pickle::kind_name(k->kind)));
      throw FileError(file, key,
                      fmt::format("missing from the statistics dict (keys: {})", fmt::join(present, ", ")));
    }
    return *v;
  };

  StatisticsFile out;
  auto [mean_names, means] = Decoder(file, "feature_mean").series(need("feature_mean"));
  auto [std_names, stds] = Decoder(file, "feature_std").series(need("feature_std"));
  if (mean_names != std_names)
    throw FileError(file, "feature_std",
                    fmt::format("features [{}] differ from feature_mean's [{}]", fmt::join(std_names, ", "),
                                fmt::join(mean_names, ", ")));
  out.features = std::move(mean_names);
  out.stats.feature_mean = std::move(means);
  out.stats.feature_std = std::move(stds);
  out.stats.target_mean = Decoder(file, "target_mean").number(need("target_mean"));
  out.stats.target_std = Decoder(file, "target_std").number(need("target_std"));
  for (std::size_t f = 0; f < out.features.size(); ++f) {
    if (!std::isfinite(out.stats.feature_mean[f]))
      throw FileError(file, "feature_mean",
                      fmt::format("'{}' is {}", out.features[f], out.stats.feature_mean[f]));
    if (!(std::isfinite(out.stats.feature_std[f]) && out.stats.feature_std[f] > 0))
      throw FileError(file, "feature_std",
                      fmt::format("'{}' is {} (a standard deviation must be finite and > 0)", out.features[f],
                                  out.stats.feature_std[f]));
  }
  if (!std::isfinite(out.stats.target_mean))
    throw FileError(file, "target_mean", fmt::format("is {}", out.stats.target_mean));
  if (!(std::isfinite(out.stats.target_std) && out.stats.target_std > 0))
    throw FileError(file, "target_std",
                    fmt::format("is {} (a standard deviation must be finite and > 0)", out.stats.target_std));
  return out;
}

Normalisation read_normalisation(const fs::path& path, const std::vector<std::string>& features) {
  StatisticsFile s;
  std::string file = path.string();
  std::error_code ec;
  if (fs::is_directory(path, ec) || path.filename() == "model.toml") {
    fs::path dir = fs::is_directory(path, ec) ? path : path.parent_path();
    if (is_ensemble(dir)) dir = ensemble_member_dir(dir, 0);  // the members share the statistics
    const ArtifactInfo info = read_artifact_info(dir);
    file = (dir / "model.toml").string();
    s.features = info.shape.features;
    s.stats = info.stats;
  } else {
    s = read_training_stats_pickle(path);
  }
  if (s.features != features) {
    const std::string problem =
        s.features.size() != features.size()
            ? fmt::format("statistics of {} features [{}], but the inputs are {} features [{}]",
                          s.features.size(), fmt::join(s.features, ", "), features.size(),
                          fmt::join(features, ", "))
            : fmt::format("statistics of the features [{}], but the inputs are [{}] (names or order differ)",
                          fmt::join(s.features, ", "), fmt::join(features, ", "));
    throw FileError(file, "", problem);
  }
  return s.stats;
}

}  // namespace fluxkit
