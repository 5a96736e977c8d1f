// Shared plumbing of the subcommands: global options, loading the pipeline config, per-section flags.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "fluxkit/core/config.hpp"
#include "fluxkit/core/context.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/pipeline/sections.hpp"

namespace fluxkit::cli {

struct GlobalOptions {
  std::vector<std::string> config_paths;  // --config, repeatable: later files override earlier ones
  std::string verbosity;
  int threads = -1;
  std::int64_t seed = -1;
  std::string device;
  std::vector<std::string> sets;  // --set section.key=value
  bool mpi = false;               // --mpi: run as a rank of MPI_COMM_WORLD
  std::string command_line;
};

void add_global_options(CLI::App& app, GlobalOptions& g);

inline constexpr const char* kGlobalOptionsFooter =
    "Global options (see fluxkit --help), accepted before or after the verb: --config FILE, --verbosity "
    "LEVEL,\n"
    "--threads N, --seed N, --device cpu|cuda, --set section.key=value, --mpi. Flags override the --config "
    "file.";

// Per-section flags: every key of P becomes --key-name (underscores to dashes), documented with its default.
class SectionFlags {
 public:
  template <class P>
  void add(CLI::App* sub) {
    for (const auto& k : config::describe<P>()) {
      std::string flag = "--" + k.key;
      for (auto& ch : flag)
        if (ch == '_') ch = '-';
      sub->add_option(flag, values_[std::string(P::kSection)][k.key],
                      fmt::format("{} [{}, default: {}]", k.doc, k.type, k.default_value))
          ->group(fmt::format("[{}] options", P::kSection))
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
          ->type_name(k.type == "float"             ? "FLOAT"
                      : k.type == "integer"         ? "INT"
                      : k.type == "boolean"         ? "BOOL"
                      : k.type.starts_with("array") ? "LIST"
                                                    : "TEXT");
    }
    sub->footer(kGlobalOptionsFooter);
    appliers_.push_back([this](config::Document& doc) {
      P witness;
      auto& given = values_[std::string(P::kSection)];
      witness.visit([&](std::string_view key, auto& field, std::string_view) {
        auto it = given.find(std::string(key));
        if (it != given.end() && !it->second.empty()) doc.set_from_cli<P>(key, it->second, field);
      });
    });
  }
  void apply(config::Document& doc) const {
    for (const auto& a : appliers_)
      a(doc);
  }

 private:
  std::map<std::string, std::map<std::string, std::string>> values_;
  std::vector<std::function<void(config::Document&)>> appliers_;
};

// What a subcommand runs with: the effective config document and the run context (logging configured).
struct Invocation {
  config::Document doc;
  Context ctx;
  std::string command_line;
};

// Loads --config (or an empty config), applies --set and the section flags, checks every section, configures
// logging. (The torch plugin applies the context's threads to libtorch when a model runs.)
Invocation prepare(const GlobalOptions& g, const SectionFlags& flags);

// Hash of a set of effective config tables, for provenance ("fnv1a64:<hex>").
std::string config_hash(const toml::table& effective);

void add_config_commands(CLI::App& app, GlobalOptions& g);
void add_synth_commands(CLI::App& app, GlobalOptions& g);
void add_prepare_command(CLI::App& app, GlobalOptions& g);
void add_train_command(CLI::App& app, GlobalOptions& g);
void add_import_weights_command(CLI::App& app, GlobalOptions& g);
void add_reconstruct_command(CLI::App& app, GlobalOptions& g);
void add_evaluate_command(CLI::App& app, GlobalOptions& g);
void add_explain_command(CLI::App& app, GlobalOptions& g);
void add_explore_command(CLI::App& app, GlobalOptions& g);
void add_ocean_transport_commands(CLI::App* transport, GlobalOptions& g);
void add_figures_commands(CLI::App& app, GlobalOptions& g);  // `figures` and `report` (Python layer)
void add_tune_command(CLI::App& app, GlobalOptions& g);      // `tune` (Python layer, Optuna)

}  // namespace fluxkit::cli
