// `fluxkit import-weights`: turns a model trained by the Python pipeline into a fluxkit model artifact.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/models/import.hpp"

namespace fluxkit::cli {

void add_import_weights_command(CLI::App& app, GlobalOptions& g) {
  std::string types;
  for (const auto& t : importable_models())
    types += fmt::format("\n  {:<15} {}", t, model_info(t).import_format);
  auto* cmd = app.add_subcommand(
      "import-weights",
      "Import a model trained by the Python pipeline, with the pipeline's normalisation statistics\n"
      "(training_stats.pkl), into a fluxkit artifact (docs/models.md). The architecture comes from\n"
      "[model.<type>], the input features from [data] features, the window and lead from [prepare].\n"
      "Types and the weights they read:" +
          types);
  static std::string type, weights, stats, output;
  cmd->add_option("--type", type, "Model type (one of the types above)")->required();
  cmd->add_option("--weights", weights, "The weights file the Python pipeline saved")->required();
  cmd->add_option("--stats", stats,
                  "The pipeline's training_stats.pkl (or a model artifact directory whose statistics to use)")
      ->required();
  cmd->add_option("--output", output, "Artifact directory to write")->required();
  static SectionFlags flags;
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    ImportRequest r;
    r.type = type;
    r.weights = weights;
    r.statistics = stats;
    r.output = output;
    import_model(r, inv.doc, inv.ctx, inv.command_line, config_hash(inv.doc.table()));
    spdlog::info("imported {} ({}) with the statistics of {} into {}", weights, type, stats, output);
  });
}

}  // namespace fluxkit::cli
