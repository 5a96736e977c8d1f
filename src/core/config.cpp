#include "fluxkit/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <fmt/format.h>

namespace fluxkit::config {

std::string join_key(std::string_view section, std::string_view key) {
  if (section.empty()) return std::string(key);
  return fmt::format("{}.{}", section, key);
}

void invalid(std::string_view section, std::string_view key, const std::string& problem) {
  throw ConfigError("", join_key(section, key), problem);
}

namespace detail {
namespace {

const char* node_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

[[noreturn]] void wrong_type(const toml::node& node, const char* expected, const std::string& key,
                             const std::string& source) {
  throw ConfigError(
      source, key,
      fmt::format("expected {}, got {} ({})", expected, node_type_name(node), render_value(node)));
}

double as_number(const toml::node& node, const std::string& key, const std::string& source) {
  if (auto i = node.as_integer()) return static_cast<double>(i->get());
  if (auto f = node.as_floating_point()) return f->get();
  wrong_type(node, "a number", key, source);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::int64_t parse_int(std::string_view text, const std::string& key) {
  std::string t = trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty())
    throw ConfigError("command line", key, fmt::format("expected an integer, got '{}'", text));
  return v;
}

double parse_double(std::string_view text, const std::string& key) {
  std::string t = trim(text);
  try {
    std::size_t used = 0;
    double v = std::stod(t, &used);
    if (used == t.size() && !t.empty()) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError("command line", key, fmt::format("expected a number, got '{}'", text));
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> out;
  if (trim(text).empty()) return out;
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(',', start);
    out.push_back(
        trim(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

template <class T, class Fn>
void read_array(const toml::node& node, std::vector<T>& out, const char* expected, const std::string& key,
                const std::string& source, Fn&& element) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr) wrong_type(node, expected, key, source);
  std::vector<T> values;
  for (std::size_t i = 0; i < arr->size(); ++i)
    values.push_back(element(*arr->get(i), fmt::format("{}[{}]", key, i)));
  out = std::move(values);
}

}  // namespace

void read(const toml::node& node, bool& out, const std::string& key, const std::string& source) {
  auto b = node.as_boolean();
  if (!b) wrong_type(node, "a boolean (true/false)", key, source);
  out = b->get();
}
void read(const toml::node& node, std::int64_t& out, const std::string& key, const std::string& source) {
  auto i = node.as_integer();
  if (!i) wrong_type(node, "an integer", key, source);
  out = i->get();
}
void read(const toml::node& node, double& out, const std::string& key, const std::string& source) {
  out = as_number(node, key, source);
}
void read(const toml::node& node, std::string& out, const std::string& key, const std::string& source) {
  auto s = node.as_string();
  if (!s) wrong_type(node, "a string", key, source);
  out = s->get();
}
void read(const toml::node& node, std::vector<std::string>& out, const std::string& key,
          const std::string& source) {
  read_array(node, out, "an array of strings", key, source, [&](const toml::node& e, const std::string& k) {
    std::string s;
    read(e, s, k, source);
    return s;
  });
}
void read(const toml::node& node, std::vector<std::int64_t>& out, const std::string& key,
          const std::string& source) {
  read_array(node, out, "an array of integers", key, source, [&](const toml::node& e, const std::string& k) {
    std::int64_t v = 0;
    read(e, v, k, source);
    return v;
  });
}
void read(const toml::node& node, std::vector<double>& out, const std::string& key,
          const std::string& source) {
  read_array(node, out, "an array of numbers", key, source,
             [&](const toml::node& e, const std::string& k) { return as_number(e, k, source); });
}

void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const bool&) {
  std::string t = trim(text);
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool v = false;
  if (t == "true" || t == "1" || t == "yes" || t == "on") {
    v = true;
  } else if (t != "false" && t != "0" && t != "no" && t != "off") {
    throw ConfigError("command line", std::string(key),
                      fmt::format("expected true or false, got '{}'", text));
  }
  section.insert_or_assign(key, v);
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const std::int64_t&) {
  section.insert_or_assign(key, parse_int(text, std::string(key)));
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const double&) {
  section.insert_or_assign(key, parse_double(text, std::string(key)));
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const std::string&) {
  section.insert_or_assign(key, std::string(text));
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<std::string>&) {
  toml::array a;
  for (auto& s : split_commas(text))
    a.push_back(s);
  section.insert_or_assign(key, std::move(a));
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<std::int64_t>&) {
  toml::array a;
  for (auto& s : split_commas(text))
    a.push_back(parse_int(s, std::string(key)));
  section.insert_or_assign(key, std::move(a));
}
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<double>&) {
  toml::array a;
  for (auto& s : split_commas(text))
    a.push_back(parse_double(s, std::string(key)));
  section.insert_or_assign(key, std::move(a));
}

void insert(toml::table& t, std::string_view key, bool v) {
  t.insert_or_assign(key, v);
}
void insert(toml::table& t, std::string_view key, std::int64_t v) {
  t.insert_or_assign(key, v);
}
void insert(toml::table& t, std::string_view key, double v) {
  t.insert_or_assign(key, v);
}
void insert(toml::table& t, std::string_view key, const std::string& v) {
  t.insert_or_assign(key, v);
}
template <class T>
void insert_array(toml::table& t, std::string_view key, const std::vector<T>& v) {
  toml::array a;
  for (const auto& e : v)
    a.push_back(e);
  t.insert_or_assign(key, std::move(a));
}
void insert(toml::table& t, std::string_view key, const std::vector<std::string>& v) {
  insert_array(t, key, v);
}
void insert(toml::table& t, std::string_view key, const std::vector<std::int64_t>& v) {
  insert_array(t, key, v);
}
void insert(toml::table& t, std::string_view key, const std::vector<double>& v) {
  insert_array(t, key, v);
}

const char* type_name(const bool&) {
  return "boolean";
}
const char* type_name(const std::int64_t&) {
  return "integer";
}
const char* type_name(const double&) {
  return "float";
}
const char* type_name(const std::string&) {
  return "string";
}
const char* type_name(const std::vector<std::string>&) {
  return "array of strings";
}
const char* type_name(const std::vector<std::int64_t>&) {
  return "array of integers";
}
const char* type_name(const std::vector<double>&) {
  return "array of floats";
}

std::string render_value(const toml::node& node) {
  std::ostringstream os;
  node.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (toml::is_table<V>) {
      os << "{...}";
    } else if constexpr (toml::is_array<V>) {
      // One line whatever the length (the formatter wraps long arrays, which breaks Markdown tables).
      os << "[ ";
      for (std::size_t i = 0; i < v.size(); ++i)
        os << (i ? ", " : "") << render_value(*v.get(i));
      os << " ]";
      if (v.empty()) os.str("[]");
    } else {
      os << toml::toml_formatter(v, toml::format_flags::none);
    }
  });
  return os.str();
}

void unknown_key(const std::string& source, std::string_view section, std::string_view key,
                 const std::set<std::string>& known) {
  std::string best;
  std::size_t best_d = 4;  // suggest only close matches
  for (const auto& k : known) {
    std::size_t d = edit_distance(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  std::string problem = "unknown key";
  if (!best.empty())
    problem += fmt::format(" (did you mean '{}'?)", join_key(section, best));
  else if (!known.empty())
    problem += fmt::format(" (known keys of [{}]: {})", section, fmt::join(known, ", "));
  throw ConfigError(source, join_key(section, key), problem);
}

}  // namespace detail

namespace {
std::set<std::string>& sections() {
  static std::set<std::string> s;
  return s;
}
std::set<std::string>& open_sections() {
  static std::set<std::string> s;
  return s;
}
// Whether `dotted` is an open section or lies inside one.
bool in_open_section(std::string_view dotted) {
  for (const auto& s : open_sections())
    if (dotted == s || (dotted.size() > s.size() && dotted.starts_with(s) && dotted[s.size()] == '.'))
      return true;
  return false;
}
void merge_tables(toml::table& into, const toml::table& over) {
  for (const auto& [k, v] : over) {
    toml::node* mine = into.get(k.str());
    if (mine != nullptr && mine->is_table() && v.is_table()) {
      merge_tables(*mine->as_table(), *v.as_table());
      continue;
    }
    v.visit([&](const auto& value) { into.insert_or_assign(k.str(), value); });
  }
}
}  // namespace

void Document::merge(const Document& over) {
  merge_tables(root_, over.root_);
  source_ = source_ == "<defaults>" ? over.source_ : source_ + " + " + over.source_;
}

void Document::register_open_section(std::string_view name) {
  open_sections().emplace(name);
}

std::string Document::open_sections_toml() const {
  toml::table out;
  for (const auto& s : open_sections()) {
    const toml::table* t = find_section(s);
    if (t == nullptr || t->empty()) continue;
    // Rebuild the path a.b.c so the formatter writes full [a.b.c.<model>] headers.
    toml::table wrapped = *t;
    std::string_view rest = s;
    std::vector<std::string_view> parts;
    for (std::size_t pos; (pos = rest.find('.')) != std::string_view::npos; rest.remove_prefix(pos + 1))
      parts.push_back(rest.substr(0, pos));
    parts.push_back(rest);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      toml::table parent;
      parent.insert(*it, std::move(wrapped));
      wrapped = std::move(parent);
    }
    merge_tables(out, wrapped);
  }
  if (out.empty()) return "";
  std::ostringstream os;
  os << out << "\n";
  return os.str();
}

Document Document::from_file(const std::filesystem::path& path) {
  try {
    Document d;
    d.root_ = toml::parse_file(path.string());
    d.source_ = path.string();
    return d;
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    if (!std::filesystem::exists(path)) throw FileError(path.string(), "", "config file not found");
    throw FileError(
        path.string(), "",
        fmt::format("TOML syntax error at line {}, column {}: {}", b.line, b.column, e.description()));
  }
}

Document Document::from_string(std::string_view text, std::string source) {
  try {
    Document d;
    d.root_ = toml::parse(text, source);
    d.source_ = std::move(source);
    return d;
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw FileError(
        source, "",
        fmt::format("TOML syntax error at line {}, column {}: {}", b.line, b.column, e.description()));
  }
}

Document Document::from_section(std::string_view section, const toml::table& table, std::string source) {
  Document d;
  d.source_ = std::move(source);
  d.ensure_section(section) = table;
  return d;
}

void Document::register_section(std::string_view name) {
  sections().emplace(name);
}
const std::set<std::string>& Document::registered_sections() {
  return sections();
}

bool Document::is_section_prefix(std::string_view dotted) {
  if (in_open_section(dotted)) return true;
  for (const auto& s : sections()) {
    if (s.size() > dotted.size() && s.compare(0, dotted.size(), dotted) == 0 && s[dotted.size()] == '.')
      return true;
  }
  return false;
}

const toml::table* Document::find_section(std::string_view dotted) const {
  const toml::table* t = &root_;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    auto pos = dotted.find('.', start);
    auto part = dotted.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    const toml::node* n = t->get(part);
    if (n == nullptr) return nullptr;
    t = n->as_table();
    if (t == nullptr)
      throw ConfigError(source_, std::string(dotted.substr(0, pos)),
                        "expected a table ([section]), got a value");
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return t;
}

toml::table& Document::ensure_section(std::string_view dotted) {
  toml::table* t = &root_;
  std::size_t start = 0;
  while (true) {
    auto pos = dotted.find('.', start);
    auto part = dotted.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    toml::node* n = t->get(part);
    if (n == nullptr) {
      t->insert(part, toml::table{});
      n = t->get(part);
    }
    t = n->as_table();
    if (t == nullptr)
      throw ConfigError(source_, std::string(part), "expected a table ([section]), got a value");
    if (pos == std::string_view::npos) return *t;
    start = pos + 1;
  }
}

void Document::set_value(std::string_view dotted_key, std::string_view text) {
  const auto dot = dotted_key.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == dotted_key.size())
    throw ConfigError("command line", std::string(dotted_key), "expected --set section.key=value");
  toml::table& section = ensure_section(dotted_key.substr(0, dot));
  const auto key = dotted_key.substr(dot + 1);
  mark_overridden();
  try {
    toml::table parsed = toml::parse(fmt::format("v = {}", text));
    parsed.get("v")->visit([&](const auto& value) { section.insert_or_assign(key, value); });
  } catch (const toml::parse_error&) {
    section.insert_or_assign(key, std::string(text));
  }
}

void Document::mark_overridden() {
  constexpr std::string_view kSuffix = " + command line";
  if (source_ == "<defaults>")
    source_ = "command line";
  else if (source_ != "command line" && !source_.ends_with(kSuffix))
    source_ += kSuffix;
}

std::string Document::strip_prefix(std::string_view what, std::string_view key) {
  std::string marker = fmt::format("key '{}': ", key);
  auto pos = what.find(marker);
  if (pos == std::string_view::npos) return std::string(what);
  return std::string(what.substr(pos + marker.size()));
}

void Document::check_sections() const {
  // Walk every table; each must be a registered section or lead to one, and a table that only leads to
  // sections may hold no plain keys.
  std::vector<std::pair<std::string, const toml::table*>> stack{{"", &root_}};
  while (!stack.empty()) {
    auto [path, t] = stack.back();
    stack.pop_back();
    const bool is_section = sections().contains(path);
    for (const auto& [k, v] : *t) {
      std::string child = config::join_key(path, k.str());
      if (v.is_table()) {
        if (in_open_section(child)) continue;  // checked by the layer that owns it
        if (sections().contains(child) || is_section_prefix(child)) {
          stack.emplace_back(child, v.as_table());
        } else if (!is_section) {
          // Suggest the closest section or section prefix ("[synht.ocean]" -> "[synth.ocean]").
          std::string best;
          std::size_t best_d = 4;
          for (const auto& s : sections()) {
            for (std::size_t end = 0; end != std::string::npos;) {
              end = s.find('.', end + 1);
              const std::string candidate = s.substr(0, end);
              std::size_t d = detail::edit_distance(child, candidate);
              if (d < best_d) best_d = d, best = end == std::string::npos ? s : candidate;
            }
          }
          throw ConfigError(
              source_, child,
              best.empty() ? fmt::format("unknown section (known sections: {})", fmt::join(sections(), ", "))
                           : fmt::format("unknown section (did you mean [{}]?)", best));
        }
      } else if (!is_section) {
        throw ConfigError(source_, child, "unknown key outside any section");
      }
    }
  }
}

std::string markdown_section(std::string_view section, std::string_view doc,
                             const std::vector<KeyDoc>& keys) {
  std::string out =
      fmt::format("## [{}]\n\n{}\n\n| key | type | default | meaning |\n|---|---|---|---|\n", section, doc);
  for (const auto& k : keys)
    out += fmt::format("| `{}` | {} | `{}` | {} |\n", k.key, k.type, k.default_value, k.doc);
  return out;
}

}  // namespace fluxkit::config
