// The pipeline configuration: one TOML file configures every stage, one section per stage ("run",
// "synth.ocean", ...). Each section is a plain struct that declares its keys once, with type, default and
// documentation, in a visit() method:
//
//   struct MyParams {
//     static constexpr std::string_view kSection = "my.stage";
//     static constexpr std::string_view kDoc = "What the stage does.";
//     double resolution = 2.0;
//     template <class V> void visit(V&& v) { v("resolution", resolution, "Grid spacing, degrees."); }
//     void validate() const;  // range checks; throw config::invalid(kSection, key, problem)
//   };
//
// From that single declaration come: reading and type checking (Document::get), rejection of unknown keys
// with a suggestion, command-line flags (--resolution), `fluxkit config show` and the reference in
// docs/config.md (`fluxkit config docs`). Supported field types: bool, std::int64_t, double, std::string,
// std::vector<std::string>, std::vector<std::int64_t>, std::vector<double>.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::config {

std::string join_key(std::string_view section, std::string_view key);

// Thrown from validate(): the loader adds the config source.
[[noreturn]] void invalid(std::string_view section, std::string_view key, const std::string& problem);

namespace detail {
void read(const toml::node& node, bool& out, const std::string& key, const std::string& source);
void read(const toml::node& node, std::int64_t& out, const std::string& key, const std::string& source);
void read(const toml::node& node, double& out, const std::string& key, const std::string& source);
void read(const toml::node& node, std::string& out, const std::string& key, const std::string& source);
void read(const toml::node& node, std::vector<std::string>& out, const std::string& key,
          const std::string& source);
void read(const toml::node& node, std::vector<std::int64_t>& out, const std::string& key,
          const std::string& source);
void read(const toml::node& node, std::vector<double>& out, const std::string& key,
          const std::string& source);

// Converts a command-line string to the TOML value of the field's type; lists are comma-separated.
toml::array parse_cli_list(std::string_view text, const std::string& key, char kind);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const bool&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const std::int64_t&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const double&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text, const std::string&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<std::string>&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<std::int64_t>&);
void set_from_cli(toml::table& section, std::string_view key, std::string_view text,
                  const std::vector<double>&);

void insert(toml::table& t, std::string_view key, bool v);
void insert(toml::table& t, std::string_view key, std::int64_t v);
void insert(toml::table& t, std::string_view key, double v);
void insert(toml::table& t, std::string_view key, const std::string& v);
void insert(toml::table& t, std::string_view key, const std::vector<std::string>& v);
void insert(toml::table& t, std::string_view key, const std::vector<std::int64_t>& v);
void insert(toml::table& t, std::string_view key, const std::vector<double>& v);

const char* type_name(const bool&);
const char* type_name(const std::int64_t&);
const char* type_name(const double&);
const char* type_name(const std::string&);
const char* type_name(const std::vector<std::string>&);
const char* type_name(const std::vector<std::int64_t>&);
const char* type_name(const std::vector<double>&);

std::string render_value(const toml::node& node);  // a value as it would be written in TOML

// Unknown-key error with the closest known key as a suggestion.
[[noreturn]] void unknown_key(const std::string& source, std::string_view section, std::string_view key,
                              const std::set<std::string>& known);
}  // namespace detail

// Documentation of one key, for docs and --help.
struct KeyDoc {
  std::string key;
  std::string type;
  std::string default_value;
  std::string doc;
};

template <class P>
std::vector<KeyDoc> describe() {
  P p;
  std::vector<KeyDoc> out;
  p.visit([&](std::string_view key, auto& field, std::string_view doc) {
    toml::table t;
    detail::insert(t, key, field);
    out.push_back(
        {std::string(key), detail::type_name(field), detail::render_value(*t.get(key)), std::string(doc)});
  });
  return out;
}

// The effective values of a section as a TOML table (for `config show`, hashing and provenance).
template <class P>
toml::table to_table(P p) {
  toml::table t;
  p.visit([&](std::string_view key, auto& field, std::string_view) { detail::insert(t, key, field); });
  return t;
}

class Document {
 public:
  Document() = default;  // an empty configuration: every key at its default
  static Document from_file(const std::filesystem::path& path);
  static Document from_string(std::string_view text, std::string source = "<string>");
  // A document whose section `section` is `table` (e.g. hyper-parameters stored in a model artifact).
  static Document from_section(std::string_view section, const toml::table& table, std::string source);

  // Lays `over` on top of this document, key by key (`fluxkit --config base.toml --config tuned.toml`): a key
  // of `over` replaces the same key here, tables merge, everything else is kept. The source names both.
  void merge(const Document& over);

  // The file name, "+ command line" once flags or --set changed it: where errors send the user.
  const std::string& source() const { return source_; }
  const toml::table& table() const { return root_; }

  // Reads section P::kSection; absent keys keep their defaults. Throws ConfigError naming the key for a wrong
  // type, an unknown key or a value validate() rejects.
  template <class P>
  P get() const {
    P p;
    const toml::table* t = find_section(P::kSection);
    std::set<std::string> known;
    p.visit([&](std::string_view key, auto& field, std::string_view) {
      known.emplace(key);
      if (t == nullptr) return;
      if (const toml::node* n = t->get(key)) detail::read(*n, field, join_key(P::kSection, key), source_);
    });
    if (t != nullptr) {
      for (const auto& [k, v] : *t) {
        if (!known.contains(std::string(k.str())) && !is_section_prefix(join_key(P::kSection, k.str())))
          detail::unknown_key(source_, P::kSection, k.str(), known);
      }
    }
    try {
      p.validate();
    } catch (const ConfigError& e) {
      throw ConfigError(source_, e.key(), strip_prefix(e.what(), e.key()));
    }
    return p;
  }

  // Overrides a key from the command line, typed like the field it sets (e.g. --resolution 1).
  template <class P, class F>
  void set_from_cli(std::string_view key, std::string_view text, const F& field_type_witness) {
    try {
      detail::set_from_cli(ensure_section(P::kSection), key, text, field_type_witness);
    } catch (const ConfigError& e) {
      throw ConfigError("command line", join_key(P::kSection, key), strip_prefix(e.what(), e.key()));
    }
    mark_overridden();
  }

  // Sets a dotted key (e.g. "synth.ocean.grid") from `--set key=value`: the value is read as a TOML value
  // (1, 2.5, true, "text", [1, 2]); anything that is not one is taken as a plain string.
  void set_value(std::string_view dotted_key, std::string_view text);

  // Registers the sections that exist, so check_sections() can reject unknown tables such as a misspelt
  // "[synht.ocean]". Every section must be registered before it is checked.
  static void register_section(std::string_view name);
  // An open section holds tables whose keys belong to another layer (the search spaces of
  // `[tune.space.<model>]` are read and checked by the Python tuning driver): check_sections() accepts any
  // table under it, and effective configurations carry it verbatim (open_sections_toml).
  static void register_open_section(std::string_view name);
  // The open sections present in this document, as TOML text with full [a.b.c] headers ("" if none).
  std::string open_sections_toml() const;
  static const std::set<std::string>& registered_sections();
  // Throws ConfigError for a table or a top-level key that belongs to no registered section.
  void check_sections() const;

 private:
  const toml::table* find_section(std::string_view dotted) const;
  toml::table& ensure_section(std::string_view dotted);
  static bool is_section_prefix(std::string_view dotted);
  void mark_overridden();
  static std::string strip_prefix(std::string_view what, std::string_view key);

  toml::table root_;
  std::string source_ = "<defaults>";
};

// Registers P's section name, so Document::check_sections() accepts it.
template <class P>
void register_section() {
  Document::register_section(P::kSection);
}

// Renders docs for a section as a Markdown table.
std::string markdown_section(std::string_view section, std::string_view doc, const std::vector<KeyDoc>& keys);

}  // namespace fluxkit::config
