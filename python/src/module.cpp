// fluxkit._core: the C++ library in Python (pybind11). Thin: argument conversion, numpy views of the
// library's buffers, errors as fluxkit.Error and log lines into Python's logging. The Python package
// (python/fluxkit) wraps it with docstrings and the xarray/pandas/scipy helpers; see docs/python.md.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include "common.hpp"
#include "fluxkit/core/communicator.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/log.hpp"
#include "fluxkit/core/plugin.hpp"
#include "fluxkit/dataset/sample_store.hpp"
#include "fluxkit/explain/explainer.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/ensemble.hpp"
#include "fluxkit/models/model.hpp"
#include "fluxkit/pipeline/sections.hpp"
#include "fluxkit/pipeline/stages.hpp"
#include "fluxkit/version.hpp"

namespace fluxkit::python {

namespace {

PyObject* g_error = nullptr;         // fluxkit.Error
PyObject* g_file_error = nullptr;    // fluxkit.FileError
PyObject* g_config_error = nullptr;  // fluxkit.ConfigError
PyObject* g_shape_error = nullptr;   // fluxkit.ShapeError

// ---- logging ----------------------------------------------------------------------------------------------

int python_level(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return 5;
    case spdlog::level::debug:
      return 10;
    case spdlog::level::info:
      return 20;
    case spdlog::level::warn:
      return 30;
    case spdlog::level::err:
      return 40;
    case spdlog::level::critical:
      return 50;
    default:
      return 0;
  }
}

struct LogQueue {
  std::mutex mutex;
  std::deque<std::pair<int, std::string>> lines;
  std::atomic<bool> active{true};  // false once the interpreter shuts down
};
LogQueue& log_queue() {
  static auto* q = new LogQueue;  // never destroyed: worker threads may log during shutdown
  return *q;
}

void emit(int level, const std::string& text) {
  try {
    py::module_::import("logging").attr("getLogger")("fluxkit").attr("log")(level, text);
  } catch (const py::error_already_set&) {
    // a failing handler must not turn into a C++ exception inside the library
  }
}

// Every line is queued; a thread holding the GIL then hands the queue to Python at once, other threads leave
// it to flush_log() after the call that released the GIL. Python is never called with a lock held (a handler
// that releases the GIL cannot deadlock another thread that logs).
class PythonSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    LogQueue& q = log_queue();
    {
      const std::lock_guard lock(q.mutex);
      q.lines.emplace_back(python_level(msg.level), std::string(msg.payload.data(), msg.payload.size()));
    }
    if (q.active && Py_IsInitialized() && PyGILState_Check()) flush_log();
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}
};

// ---- stores
// ------------------------------------------------------------------------------------------------

// A store shared with the numpy views of its buffers (they keep it alive after close()).
struct Store {
  std::shared_ptr<const SampleStore> store;
  const SampleStore& get() const {
    if (!store) throw Error("the sample store is closed");
    return *store;
  }
};

// A numpy view of `data` that keeps `owner` alive.
template <class T>
py::array view(const T* data, std::vector<py::ssize_t> shape, std::shared_ptr<const void> owner) {
  auto* holder = new std::shared_ptr<const void>(std::move(owner));
  py::capsule base(holder, [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); });
  py::array a(py::dtype::of<T>(), std::move(shape), std::vector<py::ssize_t>{},
              static_cast<const void*>(data), base);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

py::dict header_dict(const StoreHeader& h) {
  py::dict d;
  d["split"] = h.split;
  d["experiment"] = h.experiment;
  d["region"] = h.region;
  d["first_year"] = h.first_year;
  d["last_year"] = h.last_year;
  d["features"] = h.features;
  d["is_static"] = h.is_static;
  d["target"] = h.target;
  d["target_units"] = h.target_units;
  d["window"] = h.window;
  d["lead"] = h.lead;
  d["first_month"] = py::make_tuple(h.first_month.year, h.first_month.month);
  d["months"] = h.months;
  d["target_start"] = h.target_start;
  d["calendar"] = h.calendar;
  d["fraction"] = h.fraction;
  d["subsample_mode"] = h.subsample_mode;
  d["seed"] = h.seed;
  d["grid"] = py::make_tuple(h.grid_ny, h.grid_nx);
  d["source"] = h.source;
  return d;
}

py::dict stats_dict(const Normalisation& s) {
  py::dict d;
  d["feature_mean"] =
      py::array_t<double>(static_cast<py::ssize_t>(s.feature_mean.size()), s.feature_mean.data());
  d["feature_std"] =
      py::array_t<double>(static_cast<py::ssize_t>(s.feature_std.size()), s.feature_std.data());
  d["target_mean"] = s.target_mean;
  d["target_std"] = s.target_std;
  return d;
}

std::vector<std::uint64_t> window_ids(const SampleStore& s, const py::object& ids) {
  if (ids.is_none()) return window_order(s.windows(), 0, false);
  if (!py::isinstance<py::array>(ids))
    shape_error("window ids: expected an integer array, got " + std::string(py::str(py::type::of(ids))));
  py::array a = py::reinterpret_borrow<py::array>(ids);
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    shape_error("window ids: expected an integer array, got dtype " + std::string(py::str(a.dtype())));
  if (a.ndim() != 1) shape_error("window ids: expected a 1-D array, got shape " + shape_of(a));
  auto v = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  std::vector<std::uint64_t> out(static_cast<std::size_t>(v.size()));
  const std::int64_t* p = v.data();
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (p[i] < 0 || static_cast<std::uint64_t>(p[i]) >= s.windows())
      shape_error("window id " + std::to_string(p[i]) + " out of range: the store has " +
                  std::to_string(s.windows()) + " windows");
    out[i] = static_cast<std::uint64_t>(p[i]);
  }
  return out;
}

py::tuple gather(const Store& st, const py::object& ids_obj, const std::string& layout) {
  const SampleStore& s = st.get();
  const std::vector<std::uint64_t> ids = window_ids(s, ids_obj);
  const auto n = static_cast<py::ssize_t>(ids.size());
  py::array_t<float> y(n);
  if (layout == "sequence") {
    py::array_t<float> x({n, static_cast<py::ssize_t>(s.window()), static_cast<py::ssize_t>(s.features())});
    std::span<float> xs(x.mutable_data(), static_cast<std::size_t>(x.size()));
    std::span<float> ys(y.mutable_data(), ids.size());
    released([&] { s.gather_sequence(ids, xs, ys); });
    return py::make_tuple(x, y);
  }
  if (layout == "flat") {
    py::array_t<float> x({n, static_cast<py::ssize_t>(s.flat_width())});
    std::span<float> xs(x.mutable_data(), static_cast<std::size_t>(x.size()));
    std::span<float> ys(y.mutable_data(), ids.size());
    released([&] { s.gather_flat(ids, xs, ys); });
    return py::make_tuple(x, y);
  }
  throw Error("layout: expected 'sequence' or 'flat', got '" + layout + "'");
}

// ---- models
// ------------------------------------------------------------------------------------------------

// Explainers by method, kept with a Python Model: one that prepares per model (the interventional TreeSHAP
// reads the trees) does it on the first call, not on every call.
class ExplainerCache {
 public:
  const explain::Explainer& get(const std::string& method) {
    std::lock_guard lock(mutex_);
    auto it = by_method_.find(method);
    if (it == by_method_.end()) it = by_method_.emplace(method, explain::make_explainer(method)).first;
    return *it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<explain::Explainer>> by_method_;
};

struct LoadedPyModel {
  std::shared_ptr<LoadedModel> m;
  std::shared_ptr<ExplainerCache> explainers = std::make_shared<ExplainerCache>();
};

std::string layout_name(WindowLayout l) {
  return l == WindowLayout::Flat ? "flat" : "sequence";
}

// The model's input array: [n, W, F] (sequence) or [n, W * F_dynamic + F_static] (flat), float32 contiguous.
input_array<float> model_input(const Model& model, const py::handle& x_obj, std::size_t& n) {
  auto x = floating_input<float>(x_obj, model.type() + " input");
  const InputShape& s = model.input_shape();
  const std::string expected =
      model.layout() == WindowLayout::Flat
          ? "(n, " + std::to_string(s.flat_width()) + ")"
          : "(n, " + std::to_string(s.window) + ", " + std::to_string(s.features.size()) + ")";
  const bool ok = model.layout() == WindowLayout::Flat
                      ? x.ndim() == 2 && static_cast<std::size_t>(x.shape(1)) == s.flat_width()
                      : x.ndim() == 3 && static_cast<std::size_t>(x.shape(1)) == s.window &&
                            static_cast<std::size_t>(x.shape(2)) == s.features.size();
  if (!ok)
    shape_error(model.type() + ": expected input of shape " + expected + " (" + layout_name(model.layout()) +
                " layout), got " + shape_of(x));
  n = static_cast<std::size_t>(x.shape(0));
  return x;
}

py::dict input_shape_dict(const InputShape& s) {
  py::dict d;
  d["window"] = s.window;
  d["features"] = s.features;
  d["is_static"] = s.is_static;
  d["flat_width"] = s.flat_width();
  return d;
}

py::dict artifact_dict(const ArtifactInfo& i) {
  py::dict d;
  d["type"] = i.type;
  d["input_shape"] = input_shape_dict(i.shape);
  d["lead"] = i.lead;
  d["stats"] = stats_dict(i.stats);
  d["target"] = i.target;
  d["target_units"] = i.target_units;
  d["train_store"] = i.train_store;
  d["validation_store"] = i.validation_store;
  d["best_epoch"] = i.best_epoch;
  d["epochs"] = i.epochs;
  d["best_validation_loss"] = i.best_validation_loss;
  d["stop_reason"] = i.stop_reason;
  d["seed"] = i.seed;
  return d;
}

// ---- config and stages
// -------------------------------------------------------------------------------------

struct ConfigDoc {
  config::Document doc;
};

// What the CLI does before a stage: every section checked, the log level of [run] verbosity, the context.
Context stage_setup(const ConfigDoc& c) {
  const Context ctx = pipeline::stage_context(c.doc);
  spdlog::set_level(parse_log_level(c.doc.get<RunParams>().verbosity));
  return ctx;
}

py::dict record_dict(const EpochRecord& r) {
  py::dict d;
  d["epoch"] = r.epoch;
  d["train_loss"] = r.train_loss;
  d["validation_loss"] = r.validation_loss;
  d["seconds"] = r.seconds;
  return d;
}

}  // namespace

void shape_error(const std::string& message) {
  PyErr_SetString(g_shape_error, message.c_str());
  throw py::error_already_set();
}

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    s += std::to_string(a.shape(i)) + (a.ndim() == 1 ? "," : i + 1 < a.ndim() ? ", " : "");
  return s + ")";
}

Context context(py::object threads) {
  Context ctx;
  ctx.threads = threads.is_none() ? hardware_threads() : std::max(1, threads.cast<int>());
  return ctx;
}

void flush_log() {
  LogQueue& q = log_queue();
  std::deque<std::pair<int, std::string>> lines;
  {
    const std::lock_guard lock(q.mutex);
    lines.swap(q.lines);
  }
  for (const auto& [level, text] : lines)
    emit(level, text);
}

}  // namespace fluxkit::python

using namespace fluxkit;
using namespace fluxkit::python;

PYBIND11_MODULE(_core, m) {
  m.doc() = "fluxkit's C++ library (use the fluxkit package, not this module)";
  m.attr("__version__") = kVersion;
  m.attr("git_commit") = kGitCommit;

  // Errors: fluxkit.Error (RuntimeError) > FileError, ConfigError, ShapeError (also a ValueError).
  g_error = PyErr_NewException("fluxkit.Error", PyExc_RuntimeError, nullptr);
  g_file_error = PyErr_NewException("fluxkit.FileError", g_error, nullptr);
  g_config_error = PyErr_NewException("fluxkit.ConfigError", g_error, nullptr);
  g_shape_error = PyErr_NewException(
      "fluxkit.ShapeError", py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError)).release().ptr(),
      nullptr);
  m.add_object("Error", py::handle(g_error));
  m.add_object("FileError", py::handle(g_file_error));
  m.add_object("ConfigError", py::handle(g_config_error));
  m.add_object("ShapeError", py::handle(g_shape_error));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ConfigError& e) {
      PyErr_SetString(g_config_error, e.what());
    } catch (const FileError& e) {
      PyErr_SetString(g_file_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(g_error, e.what());
    } catch (const toml::parse_error& e) {
      PyErr_SetString(g_config_error, e.what());
    }
  });

  // Logging: every line of the library goes to the Python logger "fluxkit".
  auto logger = std::make_shared<spdlog::logger>("fluxkit", std::make_shared<PythonSink>());
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  m.def("set_log_level", [](const std::string& level) { spdlog::set_level(parse_log_level(level)); });
  m.def("flush_log", &flush_log);
  py::module_::import("atexit").attr("register")(py::cpp_function([] {
    flush_log();
    log_queue().active = false;
  }));
  m.def("hardware_threads", &hardware_threads);
  m.def("plugin_available", [](const std::string& name) { return plugin_available(name); });

  pipeline::register_sections();

  // ---- sample stores
  py::class_<Store>(m, "SampleStore")
      .def(py::init([](const std::filesystem::path& path, std::size_t begin, std::size_t end) {
             return Store{released([&] { return std::make_shared<const SampleStore>(path, begin, end); })};
           }),
           py::arg("path"), py::arg("cell_begin") = 0, py::arg("cell_end") = static_cast<std::size_t>(-1))
      .def_property_readonly("path", [](const Store& s) { return s.get().path(); })
      .def_property_readonly("header", [](const Store& s) { return header_dict(s.get().header()); })
      .def_property_readonly("stats", [](const Store& s) { return stats_dict(s.get().stats()); })
      .def_property_readonly("cells", [](const Store& s) { return s.get().cells(); })
      .def_property_readonly("total_cells", [](const Store& s) { return s.get().total_cells(); })
      .def_property_readonly("months", [](const Store& s) { return s.get().months(); })
      .def_property_readonly("features", [](const Store& s) { return s.get().features(); })
      .def_property_readonly("window", [](const Store& s) { return s.get().window(); })
      .def_property_readonly("windows", [](const Store& s) { return s.get().windows(); })
      .def_property_readonly("windows_per_cell", [](const Store& s) { return s.get().windows_per_cell(); })
      .def_property_readonly("flat_width", [](const Store& s) { return s.get().flat_width(); })
      .def_property_readonly("closed", [](const Store& s) { return !s.store; })
      .def("close", [](Store& s) { s.store.reset(); })
      .def("inputs",
           [](const Store& s) {
             const SampleStore& st = s.get();
             const auto c = static_cast<py::ssize_t>(st.cells()), t = static_cast<py::ssize_t>(st.months()),
                        f = static_cast<py::ssize_t>(st.features());
             const float* data = st.cells() > 0 ? st.inputs_of(0).data() : nullptr;
             return view(data, {c, t, f}, s.store);
           })
      .def("target",
           [](const Store& s) {
             const SampleStore& st = s.get();
             const float* data = st.cells() > 0 ? st.target_of(0).data() : nullptr;
             return view(data, {static_cast<py::ssize_t>(st.cells()), static_cast<py::ssize_t>(st.months())},
                         s.store);
           })
      .def("coords",
           [](const Store& s) {
             const SampleStore& st = s.get();
             const auto n = static_cast<py::ssize_t>(st.cells());
             py::array_t<double> lat(n), lon(n), area(n);
             py::array_t<std::int32_t> y(n), x(n);
             for (std::size_t c = 0; c < st.cells(); ++c) {
               const CellCoords& cc = st.cell(c);
               lat.mutable_at(c) = cc.lat;
               lon.mutable_at(c) = cc.lon;
               area.mutable_at(c) = cc.area;
               y.mutable_at(c) = cc.y;
               x.mutable_at(c) = cc.x;
             }
             py::dict d;
             d["lat"] = lat;
             d["lon"] = lon;
             d["y"] = y;
             d["x"] = x;
             d["area"] = area;
             return d;
           })
      .def("window_index",
           [](const Store& s) {
             const SampleStore& st = s.get();
             const auto n = static_cast<py::ssize_t>(st.windows());
             py::array_t<std::int64_t> cell(n), t(n);
             for (std::uint64_t i = 0; i < st.windows(); ++i) {
               cell.mutable_at(static_cast<py::ssize_t>(i)) = static_cast<std::int64_t>(st.cell_of(i));
               t.mutable_at(static_cast<py::ssize_t>(i)) = static_cast<std::int64_t>(st.target_index_of(i));
             }
             return py::make_tuple(cell, t);
           })
      .def("gather", &gather, py::arg("ids"), py::arg("layout"));

  // ---- models
  py::class_<LoadedPyModel>(m, "Model")
      .def(py::init([](const std::filesystem::path& dir) {
             return LoadedPyModel{
                 released([&] { return std::make_shared<LoadedModel>(load_model_dir(dir)); })};
           }),
           py::arg("artifact"))
      .def_property_readonly("type", [](const LoadedPyModel& p) { return p.m->model->type(); })
      .def_property_readonly("layout",
                             [](const LoadedPyModel& p) { return layout_name(p.m->model->layout()); })
      .def_property_readonly("info", [](const LoadedPyModel& p) { return artifact_dict(p.m->info); })
      .def_property_readonly("has_attention",
                             [](const LoadedPyModel& p) { return p.m->model->has_attention(); })
      .def("describe", [](const LoadedPyModel& p) { return p.m->model->describe(); })
      .def(
          "predict",
          [](const LoadedPyModel& p, const py::object& x_obj, py::object threads) {
            const Model& model = *p.m->model;
            std::size_t n = 0;
            auto x = model_input(model, x_obj, n);
            py::array_t<float> y(static_cast<py::ssize_t>(n));
            const Context ctx = context(std::move(threads));
            std::span<const float> xs(x.data(), static_cast<std::size_t>(x.size()));
            std::span<float> ys(y.mutable_data(), n);
            released([&] { model.predict(xs, n, ys, ctx); });
            return y;
          },
          py::arg("x"), py::arg("threads") = py::none())
      .def(
          "attention",
          [](const LoadedPyModel& p, const py::object& x_obj, py::object threads) {
            const Model& model = *p.m->model;
            if (!model.has_attention())
              throw Error(model.type() + " has no attention weights (only the attention-LSTM has)");
            std::size_t n = 0;
            auto x = model_input(model, x_obj, n);
            const auto W = static_cast<py::ssize_t>(model.input_shape().window),
                       F = static_cast<py::ssize_t>(model.input_shape().features.size()),
                       N = static_cast<py::ssize_t>(n);
            py::array_t<float> y(N), alpha({N, W, F}), beta({N, W});
            const Context ctx = context(std::move(threads));
            std::span<const float> xs(x.data(), static_cast<std::size_t>(x.size()));
            std::span<float> ys(y.mutable_data(), n),
                as(alpha.mutable_data(), static_cast<std::size_t>(alpha.size())),
                bs(beta.mutable_data(), static_cast<std::size_t>(beta.size()));
            released([&] { model.predict_with_attention(xs, n, ys, as, bs, ctx); });
            return py::make_tuple(y, alpha, beta);
          },
          py::arg("x"), py::arg("threads") = py::none());
  m.def("registered_models", &registered_models);

  // ---- explanations on arrays (the explainer registry of `fluxkit explain`)
  m.def("registered_explainers", &explain::registered_explainers);
  m.def(
      "explain_arrays",
      [](const LoadedPyModel& p, const std::string& method, const py::object& x_obj, const py::object& bg_obj,
         std::size_t background_kmeans, std::size_t nsamples, std::uint64_t seed, double timeshap_tolerance,
         const std::string& timeshap_baseline, bool interactions, py::object threads) {
        const Model& model = *p.m->model;
        const explain::Explainer& explainer = p.explainers->get(method);
        explainer.check_model(model);
        const std::size_t M = model.input_shape().flat_width();
        auto flat_rows = [&](const py::handle& obj, const std::string& what) {
          auto a = floating_input<float>(obj, what);
          if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(1)) != M)
            shape_error(what + ": expected the flat layout (n, " + std::to_string(M) + ") of " +
                        model.type() + "'s windows (SampleStore.windows(layout=\"flat\")), got " +
                        shape_of(a));
          return a;
        };
        auto x = flat_rows(x_obj, method + " samples");
        const auto n = static_cast<std::size_t>(x.shape(0));
        explain::Background background;
        if (!bg_obj.is_none()) {
          auto b = flat_rows(bg_obj, method + " background");
          const auto rows = static_cast<std::size_t>(b.shape(0));
          if (rows == 0) shape_error(method + " background: no rows");
          std::span<const float> bs(b.data(), static_cast<std::size_t>(b.size()));
          background = background_kmeans > 0 && background_kmeans < rows
                           ? explain::kmeans_background(bs, rows, M, background_kmeans, seed)
                           : explain::uniform_background(std::vector<float>(bs.begin(), bs.end()), M);
        } else if (explainer.needs_background()) {
          throw Error(method + " needs a background (rows of the flat layout, e.g. training windows)");
        }
        explain::ExplainOptions options;
        options.kernel.nsamples = nsamples;
        options.kernel.seed = seed;
        options.timeshap_tolerance = timeshap_tolerance;
        options.timeshap_baseline = timeshap_baseline;
        options.interactions = interactions;
        const Context ctx = context(std::move(threads));
        std::span<const float> xs(x.data(), static_cast<std::size_t>(x.size()));
        const explain::Explanation e =
            released([&] { return explainer.explain(model, xs, n, background, options, ctx); });

        auto array = [](const auto& v, std::vector<py::ssize_t> shape) {
          using T = typename std::decay_t<decltype(v)>::value_type;
          py::array_t<T> a(shape);
          std::copy(v.begin(), v.end(), a.mutable_data());
          return a;
        };
        const auto N = static_cast<py::ssize_t>(e.samples), P = static_cast<py::ssize_t>(e.players);
        const auto W = static_cast<py::ssize_t>(model.input_shape().window),
                   F = static_cast<py::ssize_t>(model.input_shape().features.size());
        py::dict d;
        d["players"] = e.player_names;
        d["phi"] = array(e.phi, {N, P});
        d["base"] = array(e.base, {N});
        d["fx"] = array(e.fx, {N});
        if (!e.alpha.empty()) d["alpha"] = array(e.alpha, {N, W, F});
        if (!e.beta.empty()) d["beta"] = array(e.beta, {N, W});
        if (!e.cell.empty()) d["cell"] = array(e.cell, {N, W, F});
        if (!e.kept.empty()) d["kept"] = array(e.kept, {N});
        if (!e.interactions.empty()) d["interactions"] = array(e.interactions, {N, P, P});
        py::list drivers, lags;
        for (const auto& c : explain::flat_column_meanings(model.input_shape())) {
          drivers.append(c.driver);
          lags.append(c.lag);
        }
        d["column_drivers"] = drivers;
        d["column_lags"] = lags;
        d["features"] = model.input_shape().features;
        return d;
      },
      py::arg("model"), py::arg("method"), py::arg("x"), py::arg("background") = py::none(),
      py::arg("background_kmeans") = 0, py::arg("nsamples") = 0, py::arg("seed") = 42,
      py::arg("timeshap_tolerance") = 0.025, py::arg("timeshap_baseline") = "median_event",
      py::arg("interactions") = false, py::arg("threads") = py::none());

  // ---- configuration and stages
  py::class_<ConfigDoc>(m, "Config")
      .def(py::init([](const py::object& path) {
             if (path.is_none()) return ConfigDoc{};
             return ConfigDoc{config::Document::from_file(path.cast<std::filesystem::path>())};
           }),
           py::arg("path") = py::none())
      .def_static(
          "from_string",
          [](const std::string& text, const std::string& source) {
            return ConfigDoc{config::Document::from_string(text, source)};
          },
          py::arg("text"), py::arg("source") = "<string>")
      .def("set_value",
           [](ConfigDoc& c, const std::string& key, const std::string& text) { c.doc.set_value(key, text); })
      .def("copy", [](const ConfigDoc& c) { return ConfigDoc{c.doc}; })
      .def(
          "merge_file",
          [](ConfigDoc& c, const std::filesystem::path& path) {
            c.doc.merge(config::Document::from_file(path));
          },
          py::arg("path"), "Lays a TOML file over the configuration (as a second --config).")
      .def_property_readonly("source", [](const ConfigDoc& c) { return c.doc.source(); })
      .def("check",
           [](const ConfigDoc& c) {
             pipeline::register_sections();
             pipeline::check_all_sections(c.doc);
           })
      .def("effective_toml", [](const ConfigDoc& c) {
        pipeline::register_sections();
        pipeline::check_all_sections(c.doc);
        return pipeline::effective_config_toml(c.doc);
      });

  m.def(
      "run_prepare",
      [](const ConfigDoc& c, const std::string& command_line) {
        const Context ctx = stage_setup(c);
        const auto stores = released([&] { return pipeline::run_prepare(c.doc, ctx, command_line); });
        py::list out;
        for (const auto& s : stores) {
          py::dict d;
          d["path"] = s.path;
          d["split"] = s.split;
          d["experiment"] = s.experiment;
          d["region"] = s.region;
          d["first_year"] = s.first_year;
          d["last_year"] = s.last_year;
          d["cells"] = s.cells;
          d["windows"] = s.windows;
          out.append(d);
        }
        return out;
      },
      py::arg("config"), py::arg("command_line"));
  m.def(
      "run_train",
      [](const ConfigDoc& c, const std::string& command_line, bool resume, py::object callback) {
        const Context ctx = stage_setup(c);
        TaskEpochCallback on_epoch;
        if (!callback.is_none())
          on_epoch = [&callback](const TrainTask& task, const EpochRecord& r) {
            py::gil_scoped_acquire gil;
            flush_log();
            py::dict d = record_dict(r);
            d["model"] = task.type;
            d["member"] = task.member;
            d["members"] = task.members;
            const py::object keep = callback(d);
            return keep.is_none() || PyObject_IsTrue(keep.ptr()) == 1;
          };
        const auto comm = Communicator::make(false);
        const auto rows =
            released([&] { return pipeline::run_train(c.doc, ctx, command_line, resume, *comm, on_epoch); });
        py::list out;
        for (const auto& r : rows) {
          py::dict d;
          d["model"] = r.type;
          d["member"] = r.member;
          d["members"] = r.members;
          d["skipped"] = r.skipped;
          d["artifact"] = r.artifact;
          d["validation_mse"] = r.validation_mse;
          d["best_epoch"] = r.best_epoch;
          d["epochs"] = r.epochs;
          d["stop_reason"] = r.stop_reason;
          d["seconds"] = r.seconds;
          out.append(d);
        }
        return out;
      },
      py::arg("config"), py::arg("command_line"), py::arg("resume") = false,
      py::arg("callback") = py::none());
  // Tuning (python/fluxkit/tuning.py): the stores opened once per worker, then one in-process fit per trial.
  py::class_<pipeline::TrainingStores>(m, "TrainingStores",
                                       "The training and validation stores of a configuration, opened once.")
      .def_property_readonly("train_windows",
                             [](const pipeline::TrainingStores& s) { return s.train->windows(); })
      .def_property_readonly("validation_windows",
                             [](const pipeline::TrainingStores& s) { return s.validation->windows(); });
  m.def(
      "open_training_stores",
      [](const ConfigDoc& c) {
        (void)stage_setup(c);
        return released([&] { return pipeline::open_training_stores(c.doc); });
      },
      py::arg("config"));
  m.def(
      "fit_trial",
      [](const ConfigDoc& c, const std::string& type, const pipeline::TrainingStores& stores,
         py::object callback) {
        const Context ctx = stage_setup(c);
        EpochCallback on_epoch;
        if (!callback.is_none())
          on_epoch = [&callback](const EpochRecord& r) {
            py::gil_scoped_acquire gil;
            flush_log();
            const py::object keep = callback(record_dict(r));
            return keep.is_none() || PyObject_IsTrue(keep.ptr()) == 1;
          };
        const FitResult fit =
            released([&] { return pipeline::fit_trial(c.doc, type, stores, ctx, on_epoch); });
        py::list history;
        for (const auto& r : fit.history)
          history.append(record_dict(r));
        py::dict d;
        d["history"] = history;
        d["best_epoch"] = fit.best_epoch;
        d["best_validation_loss"] = fit.best_validation_loss;
        d["stop_reason"] = fit.stop_reason;
        return d;
      },
      py::arg("config"), py::arg("model"), py::arg("stores"), py::arg("callback") = py::none(),
      "Trains one model of the configuration's [model.<type>] on `stores` without writing any file; "
      "callback(record) after every epoch (XGBoost: round), False stops.");
  m.def(
      "run_reconstruct",
      [](const ConfigDoc& c, const std::string& command_line, bool force) {
        const Context ctx = stage_setup(c);
        const auto comm = Communicator::make(false);
        const auto outcomes =
            released([&] { return pipeline::run_reconstruct(c.doc, ctx, command_line, force, *comm); });
        py::list out;
        for (const auto& o : outcomes) {
          py::dict d;
          d["model"] = o.task.model;
          d["experiment"] = o.task.experiment;
          d["region"] = o.task.region;
          d["year"] = o.task.year;
          d["cache"] = o.cache;
          d["skipped"] = o.skipped;
          d["cells"] = o.cells;
          out.append(d);
        }
        return out;
      },
      py::arg("config"), py::arg("command_line"), py::arg("force") = false);
  m.def(
      "run_evaluate",
      [](const ConfigDoc& c, const std::string& command_line) {
        const Context ctx = stage_setup(c);
        const auto s = released([&] { return pipeline::run_evaluate(c.doc, ctx, command_line); });
        py::dict d;
        d["output_dir"] = s.output_dir;
        d["caches_read"] = s.caches_read;
        d["files"] = s.files;
        d["summary"] = format_summary(s);
        return d;
      },
      py::arg("config"), py::arg("command_line"));

  m.def(
      "run_explain",
      [](const ConfigDoc& c, const std::string& command_line) {
        const Context ctx = stage_setup(c);
        const auto comm = Communicator::make(false);
        const auto s = released([&] { return pipeline::run_explain(c.doc, ctx, command_line, *comm); });
        py::dict d;
        d["output_dir"] = c.doc.get<ExplainParams>().output_dir;
        d["files_written"] = s.files_written;
        d["files_reused"] = s.files_reused;
        d["samples_computed"] = s.samples_computed;
        d["samples_reused"] = s.samples_reused;
        d["rankings"] = s.lines;
        return d;
      },
      py::arg("config"), py::arg("command_line"));

  bind_transport(m);
}
