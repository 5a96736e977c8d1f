// `fluxkit figures` and `fluxkit report`: figures and the HTML report are drawn by fluxkit's Python layer
// (python/fluxkit, Debian's /usr/bin/python3 with python3-matplotlib and python3-cartopy). This verb
// validates the configuration like every other verb (flags, --set, unknown keys), writes the effective
// configuration to a temporary file and runs `python3 -m fluxkit.figures|fluxkit.report --config <it>`,
// returning its status.
//
// The package is found at $FLUXKIT_PYTHON (a directory holding fluxkit/), else at the source tree's python/
// (FLUXKIT_PYTHON_DIR, set by CMake); the interpreter is $FLUXKIT_PYTHON3, else /usr/bin/python3.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/analysis/figures.hpp"
#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/pipeline/sections.hpp"

extern char** environ;

#ifndef FLUXKIT_PYTHON_DIR
#define FLUXKIT_PYTHON_DIR ""
#endif

namespace fluxkit::cli {

namespace {

std::filesystem::path python_package_dir() {
  if (const char* env = std::getenv("FLUXKIT_PYTHON"); env != nullptr && *env != '\0') return env;
  return FLUXKIT_PYTHON_DIR;
}

std::string python_interpreter() {
  if (const char* env = std::getenv("FLUXKIT_PYTHON3"); env != nullptr && *env != '\0') return env;
  return "/usr/bin/python3";
}

// Runs `python3 -m <module> --config <effective config> --config-source <source>` and returns its exit
// status.
int run_python_module(const std::string& module, const Invocation& inv) {
  const auto pkg = python_package_dir();
  if (pkg.empty() || !std::filesystem::exists(pkg / "fluxkit" / "__init__.py"))
    throw Error(
        fmt::format("the Python package of fluxkit is not at '{}' (set FLUXKIT_PYTHON to the directory "
                    "that holds fluxkit/, e.g. <source>/python)",
                    pkg.string()));
  const std::string python = python_interpreter();
  if (::access(python.c_str(), X_OK) != 0)
    throw Error(
        fmt::format("{} not found: {} needs Debian's python3 with python3-matplotlib, python3-cartopy, "
                    "python3-pandas and python3-xarray (scripts/install-deps)",
                    python, module));

  // The effective configuration: every key, defaults included, flags and --set applied.
  const auto config_file = std::filesystem::temp_directory_path() /
                           fmt::format("fluxkit-effective-{}-{}.toml", ::getpid(), module);
  write_text_atomic(config_file, fmt::format("# fluxkit effective configuration of {}\n\n{}",
                                             inv.doc.source(), pipeline::effective_config_toml(inv.doc)));
  struct Remove {
    std::filesystem::path p;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } remove{config_file};

  std::vector<std::string> args = {python,          "-m", module, "--config", config_file, "--config-source",
                                   inv.doc.source()};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  // The environment with PYTHONPATH starting at the package directory.
  std::vector<std::string> env;
  std::string pythonpath = "PYTHONPATH=" + pkg.string();
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    if (kv.starts_with("PYTHONPATH=")) {
      if (kv.size() > 11) pythonpath += ":" + kv.substr(11);
      continue;
    }
    env.push_back(std::move(kv));
  }
  env.push_back(pythonpath);
  std::vector<char*> envp;
  for (auto& kv : env)
    envp.push_back(kv.data());
  envp.push_back(nullptr);

  spdlog::debug("running {} -m {} with PYTHONPATH={}", python, module, pkg.string());
  pid_t pid = 0;
  if (const int rc = ::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), envp.data()); rc != 0)
    throw Error(fmt::format("cannot start {}: {}", python, std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(fmt::format("waiting for {}: {}", python, std::strerror(errno)));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void add_python_verb(CLI::App& app, GlobalOptions& g, const std::string& name, const std::string& description,
                     const std::string& module, SectionFlags& flags) {
  auto* cmd = app.add_subcommand(name, description);
  cmd->callback([&g, &flags, module, name] {
    const Invocation inv = prepare(g, flags);
    const int status = run_python_module(module, inv);
    if (status != 0)
      throw Error(
          fmt::format("{}: incomplete (exit status {}); what is missing is named above", name, status));
  });
  if (name == "figures")
    flags.add<FiguresParams>(cmd);
  else
    flags.add<ReportParams>(cmd);
}

}  // namespace

void add_figures_commands(CLI::App& app, GlobalOptions& g) {
  static SectionFlags figure_flags, report_flags;
  add_python_verb(
      app, g, "figures",
      "Draw every figure of the run from fluxkit's files (caches, evaluation tables and fields, loss "
      "and exploration\n"
      "tables): maps, differences, error maps, annual means, seasonal cycles, density scatter, losses, "
      "exploration.\n"
      "Skipped figures are named and make the exit status non-zero.",
      "fluxkit.figures", figure_flags);
  add_python_verb(app, g, "report",
                  "Write a static HTML report of the run ([report] output_dir/index.html, opens offline): "
                  "configuration,\n"
                  "provenance, rankings, metric tables, every figure, losses; missing inputs are marked.",
                  "fluxkit.report", report_flags);
}

}  // namespace fluxkit::cli
