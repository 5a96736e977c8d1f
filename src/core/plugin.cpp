#include "fluxkit/core/plugin.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {

fs::path plugin_file(std::string_view name) {
  return plugin_directory() / fmt::format("libfluxkit_{}.so", name);
}

}  // namespace

fs::path plugin_directory() {
  if (const char* dir = std::getenv("FLUXKIT_PLUGIN_DIR"); dir != nullptr && *dir != '\0') return dir;
  // The directory of the library holding this function (libfluxkit.so).
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&plugin_directory), &info) != 0 && info.dli_fname != nullptr) {
    std::error_code ec;
    const fs::path self = fs::canonical(info.dli_fname, ec);
    if (!ec) return self.parent_path();
  }
  return fs::current_path();
}

bool plugin_available(std::string_view name) {
  std::error_code ec;
  return fs::exists(plugin_file(name), ec);
}

void load_plugin(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, void*, std::less<>> loaded;
  std::lock_guard lock(mutex);
  if (loaded.contains(name)) return;
  const fs::path file = plugin_file(name);
  std::error_code ec;
  if (!fs::exists(file, ec))
    throw FileError(file.string(), "",
                    fmt::format("the '{}' plugin is not installed (this fluxkit was built without it, or "
                                "FLUXKIT_PLUGIN_DIR points elsewhere)",
                                name));
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    throw FileError(file.string(), "", fmt::format("cannot load the '{}' plugin: {}", name, why ? why : "?"));
  }
  spdlog::debug("plugin {} loaded from {}", name, file.string());
  loaded.emplace(std::string(name), handle);  // never unloaded: its registrations live on
}

}  // namespace fluxkit
