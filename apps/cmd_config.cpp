// `fluxkit config docs|show|check`: the configuration reference, the effective configuration, validation.
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli.hpp"

namespace fluxkit::cli {

void add_config_commands(CLI::App& app, GlobalOptions& g) {
  auto* config = app.add_subcommand("config", "Inspect the pipeline configuration");
  config->require_subcommand(1);
  static SectionFlags no_flags;

  config
      ->add_subcommand("docs",
                       "Print the reference of every config section and key (Markdown, docs/config.md)")
      ->callback([] { std::cout << pipeline::config_docs_markdown(); });
  config
      ->add_subcommand("show", "Print the effective configuration: the --config file, overrides and defaults")
      ->callback([&g] {
        const Invocation inv = prepare(g, no_flags);
        std::cout << pipeline::effective_config_toml(inv.doc);
      });
  config->add_subcommand("check", "Validate the --config file and overrides; exit status 0 when valid")
      ->callback([&g] {
        const Invocation inv = prepare(g, no_flags);
        spdlog::info("{}: valid", inv.doc.source());
      });
}

}  // namespace fluxkit::cli
