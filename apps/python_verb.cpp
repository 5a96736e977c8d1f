#include "python_verb.hpp"

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

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/pipeline/sections.hpp"

extern char** environ;

#ifndef FLUXKIT_PYTHON_DIR
#define FLUXKIT_PYTHON_DIR ""
#endif
#ifndef FLUXKIT_PYTHON_BUILD_DIR
#define FLUXKIT_PYTHON_BUILD_DIR ""
#endif

namespace fluxkit::cli {

namespace {

std::filesystem::path python_package_dir(PythonPackage package) {
  if (const char* env = std::getenv("FLUXKIT_PYTHON"); env != nullptr && *env != '\0') return env;
  return package == PythonPackage::pure ? FLUXKIT_PYTHON_DIR : FLUXKIT_PYTHON_BUILD_DIR;
}

bool has_extension_module(const std::filesystem::path& pkg) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(pkg / "fluxkit", ec))
    if (e.path().filename().string().starts_with("_core.") && e.path().extension() == ".so") return true;
  return false;
}

std::string python_interpreter() {
  if (const char* env = std::getenv("FLUXKIT_PYTHON3"); env != nullptr && *env != '\0') return env;
  return "/usr/bin/python3";
}

}  // namespace

int run_python_module(const std::string& module, const Invocation& inv, PythonPackage package) {
  const auto pkg = python_package_dir(package);
  if (pkg.empty() || !std::filesystem::exists(pkg / "fluxkit" / "__init__.py"))
    throw Error(
        fmt::format("the Python package of fluxkit is not at '{}' (set FLUXKIT_PYTHON to the directory "
                    "that holds fluxkit/, e.g. <source>/python)",
                    pkg.string()));
  if (package == PythonPackage::with_core && !has_extension_module(pkg))
    throw Error(
        fmt::format("{} needs the extension module fluxkit._core, which is not in '{}/fluxkit': build it "
                    "(make build), or set FLUXKIT_PYTHON to <build>/python",
                    module, pkg.string()));
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

}  // namespace fluxkit::cli
