// fluxkit._core: the transport operator (fluxkit/transport/linear.hpp) and the LUMIA flux file.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "common.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/flux_file.hpp"
#include "fluxkit/transport/linear.hpp"

namespace fluxkit::python {

namespace {

using transport::LinearTransport;

struct PyTransport {
  std::shared_ptr<const LinearTransport> op;
  double kernel_seconds = 0.0;  // time spent inside the library's forward/adjoint (all calls)
  std::size_t calls = 0;
};

// A 1-D float64 vector of exactly `n` values (copied when its layout or floating dtype differs).
input_array<double> vector_input(const py::handle& obj, std::size_t n, const std::string& what) {
  auto a = floating_input<double>(obj, what);
  const bool column = a.ndim() == 2 && a.shape(1) == 1;  // scipy passes (n, 1) columns too
  if ((a.ndim() != 1 && !column) || static_cast<std::size_t>(a.shape(0)) != n)
    shape_error(what + ": expected shape (" + std::to_string(n) + ",), got " + shape_of(a));
  return a;
}

py::array_t<std::int64_t> seconds(const std::vector<std::int64_t>& v) {
  return py::array_t<std::int64_t>(static_cast<py::ssize_t>(v.size()), v.data());
}

}  // namespace

void bind_transport(py::module_& m) {
  py::class_<PyTransport>(m, "Transport")
      .def(py::init([](const std::filesystem::path& rc, const std::filesystem::path& db,
                       const std::filesystem::path& packed, const std::filesystem::path& cache_dir,
                       bool use_cache, const std::string& footprint_format, bool truncate, bool check_grid,
                       py::object threads) {
             transport::LinearOptions o;
             o.rc = rc;
             o.db = db;
             o.packed = packed;
             o.cache_dir = cache_dir;
             o.use_cache = use_cache;
             o.footprint_format = footprint_format;
             o.truncate = truncate;
             o.check_grid = check_grid;
             const Context ctx = context(std::move(threads));
             return PyTransport{released([&] { return std::make_shared<const LinearTransport>(o, ctx); })};
           }),
           py::arg("rc"), py::arg("db"), py::arg("packed") = std::filesystem::path(),
           py::arg("cache_dir") = std::filesystem::path(), py::arg("use_cache") = true,
           py::arg("footprint_format") = "", py::arg("truncate") = false, py::arg("check_grid") = true,
           py::arg("threads") = py::none())
      .def_property_readonly("rows", [](const PyTransport& t) { return t.op->rows(); })
      .def_property_readonly("columns", [](const PyTransport& t) { return t.op->columns(); })
      .def_property_readonly("categories", [](const PyTransport& t) { return t.op->categories(); })
      .def_property_readonly("times_start", [](const PyTransport& t) { return seconds(t.op->axis().start); })
      .def_property_readonly("times_end", [](const PyTransport& t) { return seconds(t.op->axis().end); })
      .def_property_readonly("lats", [](const PyTransport& t) { return t.op->grid().lats; })
      .def_property_readonly("lons", [](const PyTransport& t) { return t.op->grid().lons; })
      .def_property_readonly("region", [](const PyTransport& t) { return t.op->grid().region; })
      .def_property_readonly("source", [](const PyTransport& t) { return t.op->source(); })
      .def_property_readonly("kernel_seconds", [](const PyTransport& t) { return t.kernel_seconds; })
      .def_property_readonly("calls", [](const PyTransport& t) { return t.calls; })
      .def_property_readonly("transported",
                             [](const PyTransport& t) {
                               const auto& v = t.op->transported();
                               py::array_t<bool> out(static_cast<py::ssize_t>(v.size()));
                               for (std::size_t i = 0; i < v.size(); ++i)
                                 out.mutable_at(static_cast<py::ssize_t>(i)) = v[i] != 0;
                               return out;
                             })
      .def("last_status", [](const PyTransport& t) { return t.op->last_status(); })
      .def("observations",
           [](const PyTransport& t) {
             const auto& table = t.op->observations();
             py::dict d;
             d["index_name"] = table.index_name;
             d["index"] = table.index;
             d["columns"] = table.columns;
             d["rows"] = table.rows;
             return d;
           })
      .def(
          "forward",
          [](PyTransport& t, const py::object& x_obj, const py::object& out_obj) {
            auto x = vector_input(x_obj, t.op->columns(), "transport forward: the flux vector");
            py::array_t<double> y;
            if (out_obj.is_none())
              y = py::array_t<double>(static_cast<py::ssize_t>(t.op->rows()));
            else
              y = output_array<double>(out_obj, t.op->rows(), "transport forward: out");
            std::span<const double> xs(x.data(), t.op->columns());
            std::span<double> ys(y.mutable_data(), t.op->rows());
            const auto t0 = std::chrono::steady_clock::now();
            released([&] { t.op->forward(xs, ys); });
            t.kernel_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++t.calls;
            return y;
          },
          py::arg("x"), py::arg("out") = py::none())
      .def(
          "adjoint",
          [](PyTransport& t, const py::object& y_obj) {
            auto y = vector_input(y_obj, t.op->rows(), "transport adjoint: the observation vector");
            std::span<const double> ys(y.data(), t.op->rows());
            const auto t0 = std::chrono::steady_clock::now();
            auto field = std::make_unique<std::vector<double>>(released([&] { return t.op->adjoint(ys); }));
            t.kernel_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++t.calls;
            // The result without a copy: the array owns the vector.
            double* data = field->data();
            const auto n = static_cast<py::ssize_t>(field->size());
            py::capsule owner(field.release(), [](void* p) { delete static_cast<std::vector<double>*>(p); });
            return py::array_t<double>(n, data, owner);
          },
          py::arg("y"));

  // A LUMIA flux file: {category: {"emis": [nt, nlat, nlon], "times_start": [nt], "times_end": [nt] (seconds
  // since 1970), "lats", "lons"}}.
  m.def("read_flux_file", [](const std::filesystem::path& path) {
    const transport::FluxFile f = released([&] { return transport::FluxFile::read(path); });
    py::dict out;
    for (const auto& c : f.categories) {
      py::dict d;
      py::array_t<double> emis({static_cast<py::ssize_t>(c.nt), static_cast<py::ssize_t>(c.nlat),
                                static_cast<py::ssize_t>(c.nlon)});
      std::copy(c.emis.begin(), c.emis.end(), emis.mutable_data());
      d["emis"] = emis;
      const transport::TimeAxis axis = transport::TimeAxis::of(c);
      d["times_start"] = seconds(axis.start);
      d["times_end"] = seconds(axis.end);
      d["lats"] = std::vector<double>(c.lats.begin(), c.lats.end());
      d["lons"] = std::vector<double>(c.lons.begin(), c.lons.end());
      out[py::str(c.name)] = d;
    }
    return out;
  });
}

}  // namespace fluxkit::python
