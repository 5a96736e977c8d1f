// Validation of the neural networks' hyper-parameters; kept apart from torch_models.cpp so that builds
// without libtorch still read and document every config section.
#include <fmt/format.h>

#include "fluxkit/core/config.hpp"
#include "fluxkit/models/torch_models.hpp"

namespace fluxkit {

void TorchFitParams::validate(std::string_view section) const {
  if (batch_size < 1) config::invalid(section, "batch_size", "must be >= 1");
  if (!(learning_rate > 0)) config::invalid(section, "learning_rate", "must be > 0");
  if (!(weight_decay >= 0)) config::invalid(section, "weight_decay", "must be >= 0");
  if (max_epochs < 1) config::invalid(section, "max_epochs", "must be >= 1");
  if (patience < 1) config::invalid(section, "patience", "must be >= 1");
}
void MlpParams::validate() const {
  if (hidden_dims.empty()) config::invalid(kSection, "hidden_dims", "needs at least one hidden layer");
  for (auto h : hidden_dims)
    if (h < 1) config::invalid(kSection, "hidden_dims", fmt::format("layer sizes must be >= 1, got {}", h));
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}
void LstmParams::validate() const {
  if (hidden_dim < 1) config::invalid(kSection, "hidden_dim", "must be >= 1");
  if (num_layers < 1) config::invalid(kSection, "num_layers", "must be >= 1");
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}
void AttentionLstmParams::validate() const {
  if (hidden_dim < 1) config::invalid(kSection, "hidden_dim", "must be >= 1");
  if (!(dropout >= 0 && dropout < 1)) config::invalid(kSection, "dropout", "must be in [0, 1)");
  fit.validate(kSection);
}

}  // namespace fluxkit
