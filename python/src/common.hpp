// Shared pieces of the extension module fluxkit._core: array checks, the run context and calls into the
// library with the GIL released (their log lines are handed to Python's logging afterwards).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fluxkit/core/context.hpp"

namespace fluxkit::python {

namespace py = pybind11;

// fluxkit.ShapeError (a fluxkit.Error and a ValueError): an array of the wrong dtype, shape or layout.
[[noreturn]] void shape_error(const std::string& message);

// "(3, 43)", "(12,)" of a numpy array.
std::string shape_of(const py::array& a);

// A C-contiguous array of `T` from any floating array (copied when its dtype or layout differs); ShapeError
// naming `what`, the expected and the actual dtype for a non-floating array.
template <class T>
using input_array = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
input_array<T> floating_input(const py::handle& obj, const std::string& what) {
  py::object o;  // (a default py::array is not empty but an array of shape (0,))
  if (py::isinstance<py::array>(obj))
    o = py::reinterpret_borrow<py::object>(obj);
  else if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj))
    o = py::array::ensure(obj);  // nested lists of numbers
  if (!o)
    shape_error(what + ": expected a numpy array of floats, got " + std::string(py::str(py::type::of(obj))));
  py::array a = py::reinterpret_borrow<py::array>(o);
  const char kind = a.dtype().kind();
  if (kind != 'f')
    shape_error(what + ": expected a float" + std::to_string(8 * sizeof(T)) + " array, got dtype " +
                std::string(py::str(a.dtype())) + " with shape " + shape_of(a));
  auto out = input_array<T>::ensure(a);
  if (!out) throw py::error_already_set();
  return out;
}

// An output array the library writes into: must be C-contiguous, writeable, of dtype T and `size` values.
template <class T>
py::array_t<T> output_array(const py::handle& obj, std::size_t size, const std::string& what) {
  if (!py::isinstance<py::array>(obj))
    shape_error(what + ": expected a numpy array, got " + std::string(py::str(py::type::of(obj))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().kind() != 'f' || a.itemsize() != static_cast<py::ssize_t>(sizeof(T)))
    shape_error(what + ": expected a float" + std::to_string(8 * sizeof(T)) + " array, got dtype " +
                std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    shape_error(what + ": the output array of shape " + shape_of(a) +
                " is not C-contiguous; it cannot be written in place (pass a contiguous array or none)");
  if (!a.writeable()) shape_error(what + ": the output array is read-only");
  if (static_cast<std::size_t>(a.size()) != size)
    shape_error(what + ": expected " + std::to_string(size) + " values, got shape " + shape_of(a));
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

// The default context of calls that take no `threads`: every core, seed 42.
Context context(py::object threads);

// Hands the log lines queued while the GIL was released to Python's logging (call with the GIL held).
void flush_log();

// Runs f() with the GIL released, then flushes the queued log lines (also when f throws).
template <class F>
auto released(F&& f) {
  struct Flush {
    ~Flush() { flush_log(); }
  } flush;
  py::gil_scoped_release release;
  return f();
}

void bind_transport(py::module_& m);

}  // namespace fluxkit::python
