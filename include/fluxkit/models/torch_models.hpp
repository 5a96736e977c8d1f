// The three neural networks, built with libtorch's C++ frontend, and their hyper-parameters
// ([model.mlp], [model.lstm], [model.attention_lstm]; defaults = the seed's final values). This
// header does not include libtorch: only src/models/torch_models.cpp does.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fluxkit {

// Settings of the fit loop shared by the three networks (Adam with L2 weight decay, MSE on normalised
// targets, early stopping on the validation loss), declared in each network's section.
struct TorchFitParams {
  std::int64_t batch_size = 32;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  std::int64_t max_epochs = 100;
  std::int64_t patience = 10;
  template <class V>
  void visit(V&& v) {
    v("batch_size", batch_size, "Training batch size.");
    v("learning_rate", learning_rate, "Adam learning rate.");
    v("weight_decay", weight_decay, "L2 penalty added to the gradient (Adam's weight_decay, not AdamW).");
    v("max_epochs", max_epochs, "Maximum number of epochs.");
    v("patience", patience,
      "Stop after this many epochs without a strict improvement of the validation loss.");
  }
  void validate(std::string_view section) const;
};

struct MlpParams {
  static constexpr std::string_view kSection = "model.mlp";
  static constexpr std::string_view kDoc =
      "MLP on the flat window (10 drivers x 4 months + 4 position features = 44 inputs): Linear-ReLU-Dropout "
      "blocks, "
      "then Linear to 1.";
  std::vector<std::int64_t> hidden_dims = {207, 248, 198};
  double dropout = 0.0;
  TorchFitParams fit{128, 0.00030206699545840877, 1.9936923594451204e-05, 100, 10};
  template <class V>
  void visit(V&& v) {
    v("hidden_dims", hidden_dims, "Sizes of the hidden layers.");
    v("dropout", dropout, "Dropout after each hidden layer.");
    fit.visit(v);
  }
  void validate() const;
};

struct LstmParams {
  static constexpr std::string_view kSection = "model.lstm";
  static constexpr std::string_view kDoc =
      "Stacked LSTM over the window [W, F]; the last step's output -> Dropout -> Linear to 1.";
  std::int64_t hidden_dim = 128;
  std::int64_t num_layers = 3;
  double dropout = 0.0;
  TorchFitParams fit{32, 0.00015007036384757517, 2.939570672798765e-06, 100, 10};
  template <class V>
  void visit(V&& v) {
    v("hidden_dim", hidden_dim, "LSTM hidden size.");
    v("num_layers", num_layers, "Stacked LSTM layers.");
    v("dropout", dropout, "Dropout between LSTM layers and before the output layer.");
    fit.visit(v);
  }
  void validate() const;
};

struct AttentionLstmParams {
  static constexpr std::string_view kSection = "model.attention_lstm";
  static constexpr std::string_view kDoc =
      "LSTMCell loop with input (feature) attention and temporal attention; exposes the "
      "attention "
      "weights alpha [B, W, F] and beta [B, W].";
  std::int64_t hidden_dim = 256;
  double dropout = 0.4;
  TorchFitParams fit{32, 0.00040088682195429254, 1.0214569609572818e-05, 100, 10};
  template <class V>
  void visit(V&& v) {
    v("hidden_dim", hidden_dim, "Hidden size of the LSTM cell and the attention.");
    v("dropout", dropout, "Dropout on the context vector before the output layer.");
    fit.visit(v);
  }
  void validate() const;
};

// Registers "mlp", "lstm" and "attention_lstm" with the model registry.
void register_torch_models();

}  // namespace fluxkit
