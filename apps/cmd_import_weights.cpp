// `fluxkit import-weights`: turns weights trained by the Python pipeline into a fluxkit model artifact.
#include <spdlog/spdlog.h>

#include "cli.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/models/artifact.hpp"
#include "fluxkit/models/pytorch_state_dict.hpp"
#include "fluxkit/models/torch_models.hpp"

namespace fluxkit::cli {

void add_import_weights_command(CLI::App& app, GlobalOptions& g) {
  auto* cmd =
      app.add_subcommand("import-weights",
                         "Import a PyTorch state dict saved by the Python pipeline "
                         "(torch.save(model.state_dict())) into a fluxkit\n"
                         "artifact. The architecture comes from [model.<type>] (defaults: the seed's final "
                         "values); the features,\n"
                         "window and normalisation from --store (the training store the weights belong to).");
  static std::string type, weights, store, output;
  cmd->add_option("--type", type, "mlp, lstm or attention_lstm")->required();
  cmd->add_option("--weights", weights, "The .pt file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--store", store,
                  "A sample store with the model's features, window and training statistics")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", output, "Artifact directory to write")->required();
  static SectionFlags flags;
  cmd->callback([&g] {
    const Invocation inv = prepare(g, flags);
    toml::table hp;
    if (type == "mlp")
      hp = config::to_table(inv.doc.get<MlpParams>());
    else if (type == "lstm")
      hp = config::to_table(inv.doc.get<LstmParams>());
    else if (type == "attention_lstm")
      hp = config::to_table(inv.doc.get<AttentionLstmParams>());
    else
      throw Error(fmt::format("--type '{}': expected mlp, lstm or attention_lstm", type));
    const SampleStore s(store, 0, 0);  // metadata and statistics only
    const InputShape shape = InputShape::of(s);
    auto model = make_model(type, shape, hp);
    try {
      model->import_state_dict(read_pytorch_state_dict(weights));
    } catch (const FileError&) {
      throw;
    } catch (const Error& e) {
      throw FileError(weights, "", e.what());
    }
    ArtifactInfo info;
    info.type = type;
    info.shape = shape;
    info.lead = s.header().lead;
    info.stats = s.stats();
    info.target = s.header().target;
    info.target_units = s.header().target_units;
    info.train_store = store;
    info.stop_reason = fmt::format("imported from {}", weights);
    info.seed = inv.ctx.seed;
    info.threads = inv.ctx.threads;
    toml::table effective;
    effective.insert("model." + type, hp);
    info.provenance = Provenance::make(config_hash(effective), inv.command_line);
    save_artifact(output, *model, info, {});
    spdlog::info("imported {} ({}) into {}", weights, model->describe(), output);
  });
}

}  // namespace fluxkit::cli
