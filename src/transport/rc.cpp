// LUMIA rc files (lumia/Tools/rctools.py; docs/transport.md).
//
// Parsing follows rctools.rc.read line by line: blank lines and lines starting with '!' are dropped,
// everything from the first '!' on is a comment, lines starting with '#' are directives ("#include <file>")
// or ignored, every other line is "key : value" split at the first ':'. Differences from rctools, all on
// input LUMIA accepts silently or crashes on: a line without ':' or with an empty key is an error (rctools
// stored the whole line as a key), "${key}" is substituted when the line is read (from the keys defined so
// far, then the environment) so an undefined name is an error naming file and line, includes are resolved
// relative to the including file without changing the working directory, and include cycles are detected.
#include "fluxkit/transport/rc.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <system_error>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::transport {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxIncludeDepth = 64;
// ${} substitution can double a value per line ("b : ${a}${a}"): values are capped so that a hostile or
// broken rc file cannot exhaust memory (rctools had the same exponential growth, lazily).
constexpr std::size_t kMaxValueSize = std::size_t{1} << 16;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split_components(std::string_view key) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    if (dot == std::string_view::npos) {
      parts.push_back(key.substr(start));
      return parts;
    }
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
}

// Environment variable `key`, if the name can be one.
std::optional<std::string> from_environment(std::string_view key) {
  if (key.empty() || key.find('=') != std::string_view::npos || key.find('\0') != std::string_view::npos)
    return std::nullopt;
  const char* v = std::getenv(std::string(key).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// The wildcard key rctools.findParent returns for `key`, or nullopt. findParent first tries every key with
// one more component replaced by '*' (left to right), then recurses into those keys in the same order. That
// search succeeds from a set S of starred components iff some defined key stars a strict superset of S, so
// instead of its exponential depth-first search the same answer is found greedily: at each level take the
// first one-more- star key that is defined, else descend into the first component some matching wildcard key
// still stars. (rctools replaced sub-strings, `key.replace(kk, '*')`, which misfires when one component is a
// sub-string of another; components are replaced here.)
std::optional<std::string> find_parent(const std::map<std::string, std::string>& entries,
                                       std::string_view key) {
  const auto parts = split_components(key);
  const std::size_t n = parts.size();
  // Wildcard keys matching `key`: same number of components, each equal or '*'. Their starred positions
  // beyond the stars of `key` itself.
  std::vector<std::vector<bool>> candidates;
  for (const auto& [k, v] : entries) {
    if (k.find('*') == std::string::npos || k == key) continue;
    const auto kp = split_components(k);
    if (kp.size() != n) continue;
    std::vector<bool> stars(n, false);
    bool match = true;
    for (std::size_t i = 0; i < n && match; ++i) {
      if (kp[i] == parts[i]) continue;
      if (kp[i] == "*") {
        stars[i] = true;
      } else {
        match = false;
      }
    }
    if (match) candidates.push_back(std::move(stars));
  }
  if (candidates.empty()) return std::nullopt;

  auto compose = [&](const std::vector<bool>& s) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) out += '.';
      out += s[i] ? std::string_view("*") : parts[i];
    }
    return out;
  };
  auto superset = [&](const std::vector<bool>& cand, const std::vector<bool>& s) {
    for (std::size_t i = 0; i < n; ++i)
      if (s[i] && !cand[i]) return false;
    return true;
  };
  std::vector<bool> s(n, false);
  for (std::size_t depth = 0; depth < n; ++depth) {
    // Level one: the first defined key with one more star.
    for (std::size_t i = 0; i < n; ++i) {
      if (s[i] || parts[i] == "*") continue;
      s[i] = true;
      for (const auto& c : candidates)
        if (c == s) return compose(s);
      s[i] = false;
    }
    // Descend into the first component from which a strict superset is reachable.
    bool descended = false;
    for (std::size_t i = 0; i < n && !descended; ++i) {
      if (s[i] || parts[i] == "*") continue;
      s[i] = true;
      for (const auto& c : candidates) {
        if (c != s && superset(c, s)) {
          descended = true;
          break;
        }
      }
      if (!descended) s[i] = false;
    }
    if (!descended) return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> lookup_in(
    const std::map<std::string, std::string>& entries, const std::map<std::string, std::string>& origins,
    std::string_view key) {
  auto origin_of = [&](const std::string& k) {
    const auto it = origins.find(k);
    return it == origins.end() ? std::string() : it->second;
  };
  if (const auto it = entries.find(std::string(key)); it != entries.end())
    return std::pair{it->second, origin_of(it->first)};
  if (const auto parent = find_parent(entries, key))
    return std::pair{entries.at(*parent), origin_of(*parent)};
  if (auto env = from_environment(key)) return std::pair{std::move(*env), std::string("environment")};
  return std::nullopt;
}

std::optional<std::string> read_regular_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;  // never a device, FIFO or directory
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return std::nullopt;
  return text;
}

class Parser {
 public:
  Parser(std::map<std::string, std::string>& entries, std::map<std::string, std::string>& origins,
         const RcFile::IncludeReader* reader)
      : entries_(entries), origins_(origins), reader_(reader) {}

  void push_root(std::string identity) { stack_.push_back(std::move(identity)); }

  // `file` labels messages; includes are resolved against `dir`.
  void parse(std::string_view text, const std::string& file, const fs::path& dir) {
    std::size_t pos = 0;
    int line_no = 0;
    // Universal newlines, as Python's readlines() in text mode: "\n", "\r\n" and "\r".
    while (pos < text.size()) {
      std::size_t end = pos;
      while (end < text.size() && text[end] != '\n' && text[end] != '\r')
        ++end;
      const std::string_view line = text.substr(pos, end - pos);
      if (end < text.size() && text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ++end;
      pos = end + 1;
      ++line_no;
      parse_line(line, file, dir, line_no);
    }
  }

 private:
  void parse_line(std::string_view raw, const std::string& file, const fs::path& dir, int line_no) {
    std::string_view line = strip(raw);
    if (line.empty() || line.front() == '!') return;
    if (const std::size_t bang = line.find('!'); bang != std::string_view::npos)
      line = strip(line.substr(0, bang));
    if (line.front() == '#') {
      constexpr std::string_view kInclude = "#include";
      if (line.substr(0, kInclude.size()) != kInclude) return;  // other '#' lines are ignored, as in rctools
      const std::string_view rest = line.substr(kInclude.size());
      if (!rest.empty() && !is_space(rest.front()))
        throw FileError(file, "", fmt::format("line {}: malformed directive '{}'", line_no, line));
      const std::string_view target = strip(rest);
      if (target.empty())
        throw FileError(file, "", fmt::format("line {}: #include without a file name", line_no));
      include(substitute(target, file, line_no), file, dir, line_no);
      return;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      throw FileError(file, "",
                      fmt::format("line {}: expected 'key : value', found '{}' (no ':')", line_no, line));
    const std::string key(strip(line.substr(0, colon)));
    if (key.empty()) throw FileError(file, "", fmt::format("line {}: empty key before ':'", line_no));
    std::string value = substitute(strip(line.substr(colon + 1)), file, line_no);
    entries_[key] = std::move(value);  // later definitions override earlier ones
    origins_[key] = fmt::format("{}:{}", file, line_no);
  }

  // "${name}" -> the value of an earlier key (directly, by wildcard) or of the environment variable `name`.
  // Like rctools' regex \$\{[^}]+\}: "${}" and an unterminated "${" are left as they are; the substituted
  // text is not scanned again.
  std::string substitute(std::string_view value, const std::string& file, int line_no) const {
    std::string out;
    std::size_t pos = 0;
    const std::size_t cap = std::max(kMaxValueSize, value.size());
    while (true) {
      const std::size_t open = value.find("${", pos);
      if (open == std::string_view::npos) break;
      const std::size_t close = value.find('}', open + 2);
      if (close == std::string_view::npos) break;
      out.append(value.substr(pos, open - pos));
      const std::string_view name = value.substr(open + 2, close - open - 2);
      if (name.empty()) {
        out.append("${}");
      } else if (auto found = lookup_in(entries_, origins_, name)) {
        out.append(found->first);
      } else {
        throw FileError(file, std::string(name),
                        fmt::format("line {}: ${{{}}} is neither an earlier key nor an environment variable",
                                    line_no, name));
      }
      pos = close + 1;
      if (out.size() > cap) break;
    }
    out.append(value.substr(pos));
    if (out.size() > cap)
      throw FileError(
          file, "",
          fmt::format("line {}: value longer than {} bytes after ${{}} substitution", line_no, cap));
    return out;
  }

  void include(const std::string& target, const std::string& file, const fs::path& dir, int line_no) {
    fs::path path(target);
    if (path.is_relative()) path = dir / path;
    if (stack_.size() >= kMaxIncludeDepth)
      throw FileError(file, "",
                      fmt::format("line {}: #include nested deeper than {}", line_no, kMaxIncludeDepth));
    std::optional<std::string> text;
    std::string identity;
    if (reader_ != nullptr) {
      text = (*reader_)(path);
      identity = path.lexically_normal().string();
    } else {
      text = read_regular_file(path);
      std::error_code ec;
      const fs::path canonical = fs::canonical(path, ec);
      identity = ec ? path.lexically_normal().string() : canonical.string();
    }
    if (!text)
      throw FileError(file, "",
                      fmt::format("line {}: #include {}: cannot read '{}'", line_no, target, path.string()));
    if (std::find(stack_.begin(), stack_.end(), identity) != stack_.end()) {
      std::string chain;
      for (const auto& s : stack_)
        chain += s + " -> ";
      throw FileError(file, "", fmt::format("line {}: #include cycle: {}{}", line_no, chain, identity));
    }
    stack_.push_back(identity);
    parse(*text, path.string(), path.parent_path());
    stack_.pop_back();
  }

 private:
  std::vector<std::string> stack_;  // identities of the files being parsed (cycle detection)
  std::map<std::string, std::string>& entries_;
  std::map<std::string, std::string>& origins_;
  const RcFile::IncludeReader* reader_;
};

}  // namespace

RcFile RcFile::parse_file(const std::filesystem::path& path) {
  const auto text = read_regular_file(path);
  if (!text)
    throw FileError(path.string(), "", "cannot read the rc file (missing, unreadable or not a file)");
  RcFile rc;
  rc.source_ = path.string();
  Parser parser(rc.entries_, rc.origins_, nullptr);
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  parser.push_root(ec ? path.lexically_normal().string() : canonical.string());
  parser.parse(*text, rc.source_, path.parent_path());
  return rc;
}

RcFile RcFile::parse_string(std::string_view text, const std::string& source) {
  RcFile rc;
  rc.source_ = source;
  Parser parser(rc.entries_, rc.origins_, nullptr);
  parser.parse(text, source, fs::path(source).parent_path());
  return rc;
}

RcFile RcFile::parse_string(std::string_view text, const std::string& source,
                            const IncludeReader& read_include) {
  RcFile rc;
  rc.source_ = source;
  Parser parser(rc.entries_, rc.origins_, &read_include);
  parser.push_root(fs::path(source).lexically_normal().string());
  parser.parse(text, source, fs::path(source).parent_path());
  return rc;
}

std::optional<std::pair<std::string, std::string>> RcFile::lookup(std::string_view key) const {
  return lookup_in(entries_, origins_, key);
}

bool RcFile::has(std::string_view key) const {
  return lookup(key).has_value();
}

std::optional<std::string> RcFile::find(std::string_view key) const {
  auto found = lookup(key);
  if (!found) return std::nullopt;
  return std::move(found->first);
}

std::optional<std::string> RcFile::origin(std::string_view key) const {
  auto found = lookup(key);
  if (!found) return std::nullopt;
  return std::move(found->second);
}

namespace {

FileError missing_key(const std::string& source, std::string_view key) {
  return FileError(source, std::string(key),
                   "missing rc key (no such key, no wildcard key serving it, no environment variable)");
}

}  // namespace

std::string RcFile::get(std::string_view key) const {
  auto found = lookup(key);
  if (!found) throw missing_key(source_, key);
  return std::move(found->first);
}

std::vector<std::string> RcFile::get_list(std::string_view key) const {
  const std::string value = get(key);
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    const std::string_view item = strip(std::string_view(value).substr(start, comma - start));
    if (!item.empty()) items.emplace_back(item);
    start = comma + 1;
  }
  return items;
}

namespace {

[[noreturn]] void bad_value(const std::string& where, std::string_view key, std::string_view value,
                            std::string_view expected) {
  throw FileError(where, std::string(key), fmt::format("expected {}, found '{}'", expected, value));
}

}  // namespace

bool RcFile::get_bool(std::string_view key) const {
  const auto found = lookup(key);
  if (!found) throw missing_key(source_, key);
  const std::string v = lower(strip(found->first));
  if (v == "t" || v == "true" || v == "1") return true;
  if (v == "f" || v == "false" || v == "0") return false;
  bad_value(found->second.empty() ? source_ : found->second, key, found->first,
            "a boolean (T/F/True/False/1/0)");
}

long long RcFile::get_int(std::string_view key) const {
  const auto found = lookup(key);
  if (!found) throw missing_key(source_, key);
  std::string_view v = strip(found->first);
  if (!v.empty() && v.front() == '+' && v.size() > 1 && v[1] != '-') v.remove_prefix(1);
  long long out = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
    bad_value(found->second.empty() ? source_ : found->second, key, found->first, "an integer");
  return out;
}

double RcFile::get_double(std::string_view key) const {
  const auto found = lookup(key);
  if (!found) throw missing_key(source_, key);
  std::string_view v = strip(found->first);
  if (!v.empty() && v.front() == '+' && v.size() > 1 && v[1] != '-') v.remove_prefix(1);
  double out = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size())
    bad_value(found->second.empty() ? source_ : found->second, key, found->first, "a number");
  return out;
}

}  // namespace fluxkit::transport
