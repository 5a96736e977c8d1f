// Verbs whose work is done by fluxkit's Python layer (figures, report, tune): the configuration is validated
// like every other verb's (flags, --set, unknown keys), its effective form written to a temporary file, and
// `python3 -m <module> --config <it> --config-source <source>` run; its exit status is returned.
#pragma once

#include <string>

#include "cli.hpp"

namespace fluxkit::cli {

// Which package a module needs: the pure-Python files (figures, report: the source tree's python/), or the
// package with the extension module fluxkit._core (tune: <build>/python, made by `make build`).
enum class PythonPackage { pure, with_core };

// The package directory is $FLUXKIT_PYTHON when set (a directory holding fluxkit/), else the one CMake
// recorded; the interpreter is $FLUXKIT_PYTHON3, else /usr/bin/python3.
int run_python_module(const std::string& module, const Invocation& inv, PythonPackage package);

}  // namespace fluxkit::cli
