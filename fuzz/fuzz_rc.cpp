// libFuzzer harness of the LUMIA rc parser (src/transport/rc.cpp). Build and run: fuzz/run.sh.
// Input: rc text. fluxkit::Error is the expected failure; anything else (a crash, another exception, a
// sanitizer report, a broken invariant -> trap) is a bug. #includes are served from memory, never from disk.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/rc.hpp"

namespace {

using fluxkit::transport::RcFile;

const std::map<std::string, std::string>& virtual_files() {
  static const std::map<std::string, std::string> files = {
      {"/fuzz/a.rc", "x : 1\n#include b.rc\n"},  // a <-> b: a cycle
      {"/fuzz/b.rc", "y : ${x}2\n#include a.rc\n"},
      {"/fuzz/c.rc", "emissions.*.optimize : T\ncat : ${x}\nlist : a, b,\n"},
      {"/fuzz/sub/d.rc", "#include ../c.rc\n! comment\nd : ${cat}\n"},
      {"/fuzz/bad.rc", "no colon here\n"},
  };
  return files;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Lookups of `key` (which may be absent, served by a wildcard or by the environment) agree with each other.
void lookup(const RcFile& rc, const std::string& key) {
  const auto value = rc.find(key);
  check(rc.has(key) == value.has_value());
  check(rc.origin(key).has_value() == value.has_value());
  if (!value) return;
  for (const auto& item : rc.get_list(key))
    check(!item.empty() && item.find(',') == std::string::npos);
}

// The typed getters (each throws fluxkit::Error for a value of another type).
void typed(const RcFile& rc, const std::string& key) {
  try {
    (void)rc.get_bool(key);
  } catch (const fluxkit::Error&) {
  }
  try {
    (void)rc.get_int(key);
  } catch (const fluxkit::Error&) {
  }
  try {
    (void)rc.get_double(key);
  } catch (const fluxkit::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const RcFile::IncludeReader reader = [](const std::filesystem::path& p) -> std::optional<std::string> {
    const auto it = virtual_files().find(p.lexically_normal().string());
    if (it == virtual_files().end()) return std::nullopt;
    return it->second;
  };
  try {
    const RcFile rc = RcFile::parse_string(text, "/fuzz/input.rc", reader);
    for (const auto& [key, value] : rc.entries()) {
      // A defined key is served by itself, never by a wildcard or the environment.
      check(rc.get(key) == value);
      // Huge substituted values: parsing them was the test.
      if (value.size() > 4096 || key.size() > 4096) continue;
      lookup(rc, key);
      typed(rc, key);
      // Wildcard lookups: the key with each component made concrete or starred.
      std::size_t start = 0;
      while (start <= key.size()) {
        std::size_t dot = key.find('.', start);
        if (dot == std::string::npos) dot = key.size();
        std::string concrete = key;
        concrete.replace(start, dot - start, "zz");
        lookup(rc, concrete);
        std::string starred = key;
        starred.replace(start, dot - start, "*");
        lookup(rc, starred);
        start = dot + 1;
      }
    }
    lookup(rc, "emissions.biosphere.optimize");
    typed(rc, "emissions.biosphere.optimize");
    lookup(rc, "emissions.categories");
  } catch (const fluxkit::Error&) {
  }
  return 0;
}
