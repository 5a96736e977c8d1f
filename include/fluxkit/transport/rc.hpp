// LUMIA rc files (docs/transport.md): `key : value` lines, `!` comments (also inline), `#include file`,
// `${key}` substitution (falling back to environment variables), T/F booleans, comma lists (empty items
// dropped), wildcard keys (`emissions.*.optimize` serves `emissions.<cat>.optimize`), later duplicates
// override.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fluxkit::transport {

class RcFile {
 public:
  // Parses a file (and its #includes, relative to the including file). FileError naming file and line for a
  // malformed line, a missing include, an include cycle or an undefined ${key}.
  static RcFile parse_file(const std::filesystem::path& path);
  static RcFile parse_string(std::string_view text, const std::string& source = "<string>");

  // Returns the text of an #include'd file (the path already resolved against the including file's
  // directory), or nullopt when it cannot be read. The default reads regular files from disk; tests and
  // fuzzers pass one that serves in-memory texts (include cycles are then detected on the lexically
  // normalised paths).
  using IncludeReader = std::function<std::optional<std::string>(const std::filesystem::path&)>;
  static RcFile parse_string(std::string_view text, const std::string& source,
                             const IncludeReader& read_include);

  bool has(std::string_view key) const;  // directly, through a wildcard, or in the environment
  // The raw (substituted) value; Error naming the key and the rc file when absent.
  std::string get(std::string_view key) const;
  std::optional<std::string> find(std::string_view key) const;
  // Comma list, items stripped, empty items dropped ("biosphere," and "biosphere" are both one item).
  std::vector<std::string> get_list(std::string_view key) const;
  bool get_bool(std::string_view key) const;  // T/F/True/False/1/0 (case-insensitive)
  long long get_int(std::string_view key) const;
  double get_double(std::string_view key) const;

  const std::string& source() const { return source_; }
  const std::map<std::string, std::string>& entries() const { return entries_; }
  // Where the value `key` resolves to was defined: "<file>:<line>" (of the key itself or of the wildcard key
  // serving it), "environment" for an environment variable, nullopt when absent.
  std::optional<std::string> origin(std::string_view key) const;

 private:
  // (value, origin) of `key`: the key itself, else the wildcard key findParent would pick, else the
  // environment.
  std::optional<std::pair<std::string, std::string>> lookup(std::string_view key) const;

  std::map<std::string, std::string> entries_;
  std::map<std::string, std::string> origins_;  // key -> "<file>:<line>"
  std::string source_;
};

}  // namespace fluxkit::transport
