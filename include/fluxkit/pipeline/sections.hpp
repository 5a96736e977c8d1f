// The pipeline configuration: every section of the one TOML file (`[run]`, `[synth.ocean]`, `[prepare]`,
// `[train]`, `[model.<type>]`, ...), declared here once in documentation order, so that the command line, the
// Python binding and the tuning all check, document and print the same configuration.
#pragma once

#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "fluxkit/core/config.hpp"

namespace fluxkit::pipeline {

// Registers every section with the config layer (unknown sections and keys are then errors naming them).
// Idempotent; call once before reading a config.
void register_sections();
// The reference of every key with its default (docs/config.md).
std::string config_docs_markdown();
// The effective configuration (defaults filled in) as TOML.
std::string effective_config_toml(const config::Document& doc);
// Checks every section (types, unknown keys, each section's validate()); ConfigError naming the key.
void check_all_sections(const config::Document& doc);

// The hyper-parameters of a model type, from its [model.<type>] section (the model registry's types).
toml::table model_hyper_parameters(const config::Document& doc, std::string_view type);

}  // namespace fluxkit::pipeline
