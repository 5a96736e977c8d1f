// The neural networks of the thesis (MLP, LSTM, attention-LSTM) and their fit loop, on libtorch. The only
// translation unit besides torch_runtime.cpp that includes torch/torch.h (slow to compile).
#include "fluxkit/models/torch_models.hpp"
#include "fluxkit/core/torch_runtime.hpp"

#include <sys/resource.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/config.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/hash.hpp"
#include "fluxkit/core/progress.hpp"
#include "fluxkit/core/provenance.hpp"
#include "fluxkit/models/model.hpp"
#include "models/adam.hpp"
#include "models/mlp.hpp"
#include "models/recurrence.hpp"

namespace fluxkit {

namespace fs = std::filesystem;

namespace {

// ---- networks
// -----------------------------------------------------------------------------------------------

// The process's CPU time (every thread, concurrent ensemble members included), in seconds, and its minor
// page faults (first touches of fresh memory: most of the system time a training epoch can have).
struct CpuTimes {
  double user = 0, system = 0;
  long minor_faults = 0;
  CpuTimes operator-(const CpuTimes& o) const {
    return {user - o.user, system - o.system, minor_faults - o.minor_faults};
  }
};
CpuTimes process_cpu_times() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return {s(u.ru_utime), s(u.ru_stime), u.ru_minflt};
}

std::mutex& global_generator_mutex() {
  static std::mutex m;
  return m;
}

// torch::dropout (the same draws, the same scaling) from a given generator rather than libtorch's global one:
// ensemble members train at the same time in threads of one process, and draws from a shared generator would
// interleave differently on every run.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training, at::Generator* rng) {
  if (p == 0 || !training || x.numel() == 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, training);  // the generator is a CPU one
  if (p == 1) return x * torch::zeros_like(x);
  torch::Tensor noise = torch::empty_like(x).bernoulli_(1 - p, *rng);
  noise.div_(1 - p);
  return x * noise;
}

// MLP: Linear -> ReLU -> Dropout per hidden layer, then Linear to 1. Keys layers.{i}.*, output_layer.*.
struct MlpNetImpl : torch::nn::Module {
  MlpNetImpl(std::int64_t inputs, const std::vector<std::int64_t>& hidden, double dropout) : p(dropout) {
    layers = register_module("layers", torch::nn::ModuleList());
    std::int64_t prev = inputs;
    for (auto h : hidden) {
      layers->push_back(torch::nn::Linear(prev, h));
      prev = h;
    }
    output_layer = register_module("output_layer", torch::nn::Linear(prev, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    if (p == 0 || !is_training()) {  // no dropout: the same function, fused on the CPU (mlp.hpp)
      std::vector<detail::DenseWeights> hidden;
      for (const auto& layer : *layers) {
        const auto& linear = *layer->as<torch::nn::Linear>();
        hidden.push_back({linear.weight, linear.bias});
      }
      return detail::mlp(x, hidden, {output_layer->weight, output_layer->bias}).squeeze(-1);
    }
    for (const auto& layer : *layers) {
      x = torch::relu(layer->as<torch::nn::Linear>()->forward(x));
      x = dropout(x, p, is_training(), rng);
    }
    return output_layer->forward(x).squeeze(-1);
  }
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Linear output_layer{nullptr};
  double p;
  at::Generator* rng = nullptr;  // the model's (TorchModel::rng_)
};
TORCH_MODULE(MlpNet);

// LSTM: stacked LSTM (batch first), last step -> Dropout -> Linear. Keys lstm.*_l{k}, fc1.*.
struct LstmNetImpl : torch::nn::Module {
  LstmNetImpl(std::int64_t features, std::int64_t hidden, std::int64_t layers_, double dropout) : p(dropout) {
    lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(features, hidden)
                                                       .num_layers(layers_)
                                                       .dropout(layers_ > 1 ? dropout : 0.0)
                                                       .batch_first(true)));
    fc1 = register_module("fc1", torch::nn::Linear(hidden, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor last;
    if (is_training() && lstm->options.num_layers() > 1 && lstm->options.dropout() > 0) {
      // Dropout between the layers: libtorch's LSTM draws it (from libtorch's global generator).
      const torch::Tensor out = std::get<0>(lstm->forward(x));
      last = out.select(1, out.size(1) - 1);
    } else {  // the same function, fused on the CPU (recurrence.hpp)
      const torch::Tensor hs = detail::lstm_steps(x, layer_weights());
      last = hs[hs.size(0) - 1];
    }
    return fc1->forward(dropout(last, p, is_training(), rng)).squeeze(-1);
  }
  std::vector<detail::LstmLayerWeights> layer_weights() const {
    const auto named = lstm->named_parameters(false);
    std::vector<detail::LstmLayerWeights> layers;
    for (std::int64_t k = 0; k < lstm->options.num_layers(); ++k) {
      const std::string l = std::to_string(k);
      layers.push_back({named["weight_ih_l" + l], named["weight_hh_l" + l], named["bias_ih_l" + l],
                        named["bias_hh_l" + l]});
    }
    return layers;
  }
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Linear fc1{nullptr};
  double p;
  at::Generator* rng = nullptr;  // the model's (TorchModel::rng_)
};
TORCH_MODULE(LstmNet);

// Attention-LSTM: e_t = V tanh(W [h_{t-1}; c_{t-1}] + U x_t), alpha_t = softmax_F(e_t), x~_t = alpha_t * x_t.
struct InputAttentionImpl : torch::nn::Module {
  InputAttentionImpl(std::int64_t features, std::int64_t hidden) {
    W = register_module("W", torch::nn::Linear(2 * hidden, hidden));
    U = register_module("U", torch::nn::Linear(features, hidden));
    V = register_module("V", torch::nn::Linear(hidden, features));
  }
  torch::nn::Linear W{nullptr}, U{nullptr}, V{nullptr};
};
TORCH_MODULE(InputAttention);

// LSTMCell loop over the window with input attention (recurrence.hpp), then temporal attention
// s_t = w^T h_t + b, beta = softmax_W(s), context = sum_t beta_t h_t, y = fc1(dropout(context)). Keys
// lstm_cell.*, attention.{W,U,V}.*, temporal_attention.*, fc1.* (the seed's unused lstm_layer is not built).
struct AttentionLstmNetImpl : torch::nn::Module {
  AttentionLstmNetImpl(std::int64_t features, std::int64_t hidden_, double dropout)
      : hidden(hidden_), p(dropout) {
    lstm_cell = register_module("lstm_cell", torch::nn::LSTMCell(features, hidden));
    attention = register_module("attention", InputAttention(features, hidden));
    temporal_attention = register_module("temporal_attention", torch::nn::Linear(hidden, 1));
    fc1 = register_module("fc1", torch::nn::Linear(hidden, 1));
  }
  // Returns y [B]; fills alpha [B, W, F] and beta [B, W] when asked.
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* alpha = nullptr,
                        torch::Tensor* beta = nullptr) {
    const detail::AttentionLstmSteps steps = detail::attention_lstm_steps(
        x, {attention->W->weight, attention->W->bias, attention->U->weight, attention->U->bias,
            attention->V->weight, attention->V->bias, lstm_cell->weight_ih, lstm_cell->weight_hh,
            lstm_cell->bias_ih, lstm_cell->bias_hh});
    const torch::Tensor& seq = steps.h;                                                       // [W, B, H]
    const torch::Tensor b = torch::softmax(temporal_attention->forward(seq).squeeze(-1), 0);  // [W, B]
    const torch::Tensor context = (b.unsqueeze(-1) * seq).sum(0);
    if (alpha != nullptr) *alpha = steps.alpha.transpose(0, 1);
    if (beta != nullptr) *beta = b.t();
    return fc1->forward(dropout(context, p, is_training(), rng)).squeeze(-1);
  }
  torch::nn::LSTMCell lstm_cell{nullptr};
  InputAttention attention{nullptr};
  torch::nn::Linear temporal_attention{nullptr}, fc1{nullptr};
  std::int64_t hidden;
  at::Generator* rng = nullptr;  // the model's (TorchModel::rng_)
  double p;
};
TORCH_MODULE(AttentionLstmNet);

// ---- the Model around a network
// -----------------------------------------------------------------------------

torch::Device device_of(const Context& ctx) {
  return ctx.device == Device::Cuda ? torch::kCUDA : torch::kCPU;
}

void check_finite(std::span<const float> x, std::size_t width) {
  // Blocks without an early exit, so that the test vectorises (a branch per value was 3 % of a KernelSHAP
  // sample of the MLP); a block with a bad value is then searched for the first.
  constexpr std::size_t kBlock = 4096;
  for (std::size_t begin = 0; begin < x.size(); begin += kBlock) {
    const std::size_t end = std::min(x.size(), begin + kBlock);
    std::uint32_t bad = 0;
    for (std::size_t i = begin; i < end; ++i)  // exponent all ones: infinite or NaN
      bad |= static_cast<std::uint32_t>((std::bit_cast<std::uint32_t>(x[i]) & 0x7f800000u) == 0x7f800000u);
    if (bad == 0) continue;
    for (std::size_t i = begin; i < end; ++i)
      if (!std::isfinite(x[i]))
        throw Error(
            fmt::format("non-finite model input at row {}, column {} ({})", i / width, i % width, x[i]));
  }
}

// Writes a file atomically through an OutputArchive.
void save_archive(torch::serialize::OutputArchive& archive, const fs::path& path) {
  AtomicFile file(path);
  archive.save_to(file.temp_path().string());
  file.commit();
}

// Adam's state, parameter by parameter in the module's order. libtorch's own Optimizer::save keys the state
// by tensor address and writes it in hash order, so the checkpoints of two identical runs would differ.
void save_adam(torch::serialize::OutputArchive& a, torch::optim::Adam& optimizer,
               const std::vector<torch::Tensor>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto it = optimizer.state().find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
    if (it == optimizer.state().end()) continue;  // no step taken yet
    const auto& st = static_cast<const torch::optim::AdamParamState&>(*it->second);
    a.write(fmt::format("adam.{}.step", i), torch::tensor(st.step(), torch::kInt64));
    a.write(fmt::format("adam.{}.exp_avg", i), st.exp_avg().to(torch::kCPU));
    a.write(fmt::format("adam.{}.exp_avg_sq", i), st.exp_avg_sq().to(torch::kCPU));
    if (st.max_exp_avg_sq().defined())
      a.write(fmt::format("adam.{}.max_exp_avg_sq", i), st.max_exp_avg_sq().to(torch::kCPU));
  }
}

// The state save_adam wrote; false for a checkpoint without it (written by Optimizer::save: read that).
bool load_adam(torch::serialize::InputArchive& a, torch::optim::Adam& optimizer,
               const std::vector<torch::Tensor>& params) {
  bool any = false;
  for (std::size_t i = 0; i < params.size(); ++i) {
    // InputArchive::read aliases a defined tensor onto the stored one: read into fresh tensors only.
    torch::Tensor step, exp_avg, exp_avg_sq, max_exp_avg_sq;
    if (!a.try_read(fmt::format("adam.{}.step", i), step)) continue;
    a.read(fmt::format("adam.{}.exp_avg", i), exp_avg);
    a.read(fmt::format("adam.{}.exp_avg_sq", i), exp_avg_sq);
    auto st = std::make_unique<torch::optim::AdamParamState>();
    st->step(step.item<std::int64_t>());
    st->exp_avg(exp_avg.to(params[i].device()).clone());
    st->exp_avg_sq(exp_avg_sq.to(params[i].device()).clone());
    if (a.try_read(fmt::format("adam.{}.max_exp_avg_sq", i), max_exp_avg_sq))
      st->max_exp_avg_sq(max_exp_avg_sq.to(params[i].device()).clone());
    optimizer.state()[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(st);
    any = true;
  }
  return any;
}

template <class Params>
Params read_params(const toml::table& table) {
  return config::Document::from_section(Params::kSection, table, "<model hyper-parameters>")
      .template get<Params>();
}

// Windows per forward pass without gradients (validation, prediction): enough rows for efficient matrix
// products, and activations small enough (the attention-LSTM's are 20 kB per window) to stay below glibc's
// mmap threshold (configure_torch): reused from pass to pass, not mapped and faulted in again each time.
constexpr std::size_t kForwardChunk = 512;

class TorchModel : public Model {
 public:
  TorchModel(std::string type, WindowLayout layout, InputShape shape, TorchFitParams fit, toml::table hp)
      : type_(std::move(type)), layout_(layout), shape_(std::move(shape)), fit_(fit), hp_(std::move(hp)) {}
  TorchModel(const TorchModel&) = delete;  // the nets point at rng_
  TorchModel& operator=(const TorchModel&) = delete;

  std::string type() const override { return type_; }
  WindowLayout layout() const override { return layout_; }
  const InputShape& input_shape() const override { return shape_; }
  toml::table hyper_parameters() const override { return hp_; }
  std::string describe() const override {
    std::int64_t n = 0;
    for (const auto& p : module().parameters())
      n += p.numel();
    return fmt::format("{}: {}; {} parameters", type_, architecture(), n);
  }

  FitResult fit(const SampleStore& train, const SampleStore& validation, const TrainOptions& options,
                const Context& ctx) override;
  void predict(std::span<const float> x, std::size_t n, std::span<float> y,
               const Context& ctx) const override;
  // libtorch runs forward passes without gradients from several threads at once, and predict only reads
  // the module (prepare_inference).
  bool predicts_concurrently() const override { return true; }
  void save_weights(const fs::path& dir) const override;
  void load_weights(const fs::path& dir) override;
  void import_state_dict(const std::vector<std::pair<std::string, StateTensor>>& state) override;

 protected:
  virtual bool ignored_key(std::string_view) const { return false; }
  virtual void build() = 0;  // a fresh, randomly initialised network, its dropout drawing from rng_
  // build() holding the lock that every draw from libtorch's global generator here takes (the
  // initialisation): models are made and fitted in several threads at once (ensemble members).
  void build_locked() {
    std::lock_guard lock(global_generator_mutex());
    build();
  }
  virtual torch::nn::Module& module() const = 0;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Windows per forward pass in predict.
  virtual std::size_t predict_chunk() const { return kForwardChunk; }
  virtual std::string architecture() const = 0;

  std::size_t row_width() const {
    return layout_ == WindowLayout::Flat ? shape_.flat_width() : shape_.window * shape_.features.size();
  }
  torch::Tensor to_input(const float* data, std::size_t n) const {
    auto t = torch::from_blob(const_cast<float*>(data), {static_cast<std::int64_t>(n * row_width())},
                              torch::kFloat32);
    if (layout_ == WindowLayout::Flat)
      return t.view({static_cast<std::int64_t>(n), static_cast<std::int64_t>(row_width())});
    return t.view({static_cast<std::int64_t>(n), static_cast<std::int64_t>(shape_.window),
                   static_cast<std::int64_t>(shape_.features.size())});
  }
  void check_store(const SampleStore& s) const {
    const InputShape other = InputShape::of(s);
    if (!(other == shape_))
      throw Error(fmt::format("{}: features [{}] / window {} differ from the model's [{}] / window {}",
                              s.path().string(), fmt::join(other.features, ", "), other.window,
                              fmt::join(shape_.features, ", "), shape_.window));
  }
  double evaluate(const SampleStore& store, torch::Device device);
  // The module in eval mode on `device`, changed only when it is not (under a lock): predictions running in
  // other threads read the module, and Module::to rewrites every parameter even when it is already there.
  void prepare_inference(const torch::Device& device) const {
    std::lock_guard lock(inference_mutex_);
    if (module().is_training()) module().eval();
    const auto params = module().parameters();
    if (!params.empty() && params.front().device() != device) module().to(device);
  }

  std::string type_;
  WindowLayout layout_;
  InputShape shape_;
  TorchFitParams fit_;
  toml::table hp_;
  at::Generator rng_;  // dropout's generator, seeded by fit(); nets keep its address (not copyable)
  mutable std::mutex inference_mutex_;
};

double TorchModel::evaluate(const SampleStore& store, torch::Device device) {
  torch::NoGradGuard no_grad;
  module().eval();
  WindowBatches batches(store, kForwardChunk, layout_, false, 0);
  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  double sum = 0;
  std::size_t count = 0;
  while (batches.next(x, y, ids)) {
    const auto pred = forward(to_input(x.data(), ids.size()).to(device)).to(torch::kCPU);
    const auto target = torch::from_blob(y.data(), {static_cast<std::int64_t>(y.size())}, torch::kFloat32);
    sum += torch::mse_loss(pred, target, torch::Reduction::Sum).item<double>();
    count += ids.size();
  }
  return sum / static_cast<double>(std::max<std::size_t>(1, count));
}

FitResult TorchModel::fit(const SampleStore& train, const SampleStore& validation,
                          const TrainOptions& options, const Context& ctx) {
  configure_torch(ctx);
  check_store(train);
  check_store(validation);
  if (train.windows() == 0 || validation.windows() == 0)
    throw Error("fit: empty training or validation store");
  const torch::Device device = device_of(ctx);
  {
    // The initialisation draws from libtorch's global generator, so concurrent fits take turns; dropout then
    // draws from the model's own generator, continuing the global one's sequence (a fit alone draws exactly
    // what it would from the global generator).
    std::lock_guard lock(global_generator_mutex());
    torch::manual_seed(options.seed);
    build();
    rng_ = at::make_generator<at::CPUGeneratorImpl>();
    rng_.set_state(at::detail::getDefaultCPUGenerator().get_state());
  }
  module().to(device);
  torch::optim::Adam optimizer(module().parameters(),
                               torch::optim::AdamOptions(fit_.learning_rate).weight_decay(fit_.weight_decay));
  const bool files = !options.work_dir.empty();
  if (files) fs::create_directories(options.work_dir);
  const fs::path checkpoint = options.work_dir / "checkpoint.pt";
  const fs::path losses = options.work_dir / "losses.csv";

  FitResult result;
  result.best_validation_loss = std::numeric_limits<double>::infinity();
  int no_improve = 0, start_epoch = 1;
  std::vector<torch::Tensor> best;  // best weights, on the CPU
  auto snapshot = [&] {
    best.clear();
    for (const auto& p : module().parameters())
      best.push_back(p.detach().to(torch::kCPU).clone());
  };
  auto restore_best = [&] {
    torch::NoGradGuard no_grad;
    auto params = module().parameters();
    for (std::size_t i = 0; i < best.size(); ++i)
      params[i].copy_(best[i].to(device));
  };
  at::Generator& generator = rng_;

  if (files && options.resume && fs::exists(checkpoint)) {
    torch::serialize::InputArchive a;
    a.load_from(checkpoint.string());
    torch::NoGradGuard no_grad;
    auto params = module().parameters();
    // InputArchive::read aliases a defined tensor onto the stored one: read into fresh tensors only.
    for (std::size_t i = 0; i < params.size(); ++i) {
      torch::Tensor current, best_i;
      a.read(fmt::format("param.{}", i), current);
      params[i].copy_(current.to(device));
      a.read(fmt::format("best.{}", i), best_i);
      best.push_back(best_i.clone());
    }
    if (!load_adam(a, optimizer, module().parameters())) {  // a checkpoint of an earlier fluxkit
      torch::serialize::InputArchive opt;
      a.read("optimizer", opt);
      optimizer.load(opt);
    }
    torch::Tensor state, rng, t;
    a.read("state", state);  // epoch, best_epoch, no_improve, best_loss
    a.read("history", t);
    a.read("rng", rng);
    generator.set_state(rng);
    start_epoch = static_cast<int>(state[0].item<double>()) + 1;
    result.best_epoch = static_cast<int>(state[1].item<double>());
    no_improve = static_cast<int>(state[2].item<double>());
    result.best_validation_loss = state[3].item<double>();
    for (std::int64_t r = 0; r < t.size(0); ++r)
      result.history.push_back({static_cast<int>(t[r][0].item<double>()), t[r][1].item<double>(),
                                t[r][2].item<double>(), t[r][3].item<double>()});
    spdlog::info("{}: resuming after epoch {} (best validation loss {:.6g} at epoch {})", type_,
                 start_epoch - 1, result.best_validation_loss, result.best_epoch);
  }

  std::vector<float> x, y;
  std::vector<std::uint64_t> ids;
  result.stop_reason = "max_epochs";
  for (int epoch = start_epoch; epoch <= fit_.max_epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const CpuTimes cpu0 = process_cpu_times();
    module().train();
    WindowBatches batches(train, static_cast<std::size_t>(fit_.batch_size), layout_, true,
                          mix64(options.seed) ^ static_cast<std::uint64_t>(epoch));
    double sum = 0;
    std::size_t count = 0;
    bool finite = true;
    Progress progress(fmt::format("{} epoch {}/{}", type_, epoch, fit_.max_epochs), batches.batches(),
                      "batches", false);
    while (batches.next(x, y, ids)) {
      progress.advance();
      const auto input = to_input(x.data(), ids.size()).to(device);
      const auto target =
          torch::from_blob(y.data(), {static_cast<std::int64_t>(y.size())}, torch::kFloat32).to(device);
      // Gradients are dropped rather than zeroed: backward then writes them instead of adding them to zeros
      // (the same values, without two element-wise passes over every parameter, each a parallel region).
      for (auto& p : module().parameters())
        p.mutable_grad().reset();
      const auto loss = torch::mse_loss(forward(input), target);
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        finite = false;
        break;
      }
      loss.backward();
      detail::adam_step(optimizer);
      sum += value * static_cast<double>(ids.size());
      count += ids.size();
    }
    progress.finish();
    const double val = finite ? evaluate(validation, device) : std::nan("");
    if (!finite || !std::isfinite(val)) {
      result.stop_reason =
          fmt::format("non-finite {} loss in epoch {}", finite ? "validation" : "training", epoch);
      spdlog::error("{}: {}; keeping the weights of epoch {} (last good checkpoint: {})", type_,
                    result.stop_reason, result.best_epoch, checkpoint.string());
      break;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.history.push_back({epoch, sum / static_cast<double>(count), val, seconds});
    const bool improved = val < result.best_validation_loss;
    if (improved) {
      result.best_validation_loss = val;
      result.best_epoch = epoch;
      no_improve = 0;
      snapshot();
    } else {
      ++no_improve;
    }
    const CpuTimes cpu = process_cpu_times() - cpu0;
    spdlog::info(
        "{}: epoch {}/{} train {:.6g} validation {:.6g}{} ({:.1f} s; process CPU {:.1f} s user, {:.2f} s "
        "system, {} page faults)",
        type_, epoch, fit_.max_epochs, sum / static_cast<double>(count), val, improved ? " (best)" : "",
        seconds, cpu.user, cpu.system, cpu.minor_faults);

    if (files) {  // the loss table and a checkpoint to resume from
      std::string csv = "epoch,train_loss,validation_loss,seconds\n";
      for (const auto& r : result.history)
        csv += fmt::format("{},{:.9g},{:.9g},{}\n", r.epoch, r.train_loss, r.validation_loss,
                           seconds_for_file(r.seconds));
      write_text_atomic(losses, csv);
      {
        torch::serialize::OutputArchive a;
        const auto params = module().parameters();
        for (std::size_t i = 0; i < params.size(); ++i) {
          a.write(fmt::format("param.{}", i), params[i].detach().to(torch::kCPU));
          a.write(fmt::format("best.{}", i), best[i]);
        }
        save_adam(a, optimizer, params);
        a.write("state", torch::tensor({static_cast<double>(epoch), static_cast<double>(result.best_epoch),
                                        static_cast<double>(no_improve), result.best_validation_loss},
                                       torch::kFloat64));
        std::vector<double> hist;
        for (const auto& h : result.history)
          hist.insert(hist.end(), {static_cast<double>(h.epoch), h.train_loss, h.validation_loss,
                                   reproducible_files() ? 0.0 : h.seconds});
        a.write("history",
                torch::from_blob(hist.data(), {static_cast<std::int64_t>(result.history.size()), 4},
                                 torch::kFloat64)
                    .clone());
        a.write("rng", generator.get_state());
        save_archive(a, checkpoint);
      }
    }
    if (options.on_epoch && !options.on_epoch(result.history.back())) {
      result.stop_reason = "callback";
      break;
    }
    if (no_improve >= fit_.patience) {
      result.stop_reason = "patience";
      break;
    }
  }
  if (best.empty())
    throw DivergedError(fmt::format("{}: no epoch finished with a finite validation loss", type_));
  restore_best();
  module().eval();
  return result;
}

void TorchModel::predict(std::span<const float> x, std::size_t n, std::span<float> y,
                         const Context& ctx) const {
  configure_torch(ctx);
  const std::size_t width = row_width();
  if (x.size() != n * width || y.size() != n)
    throw Error(fmt::format("{}: predict needs {} inputs and {} outputs for {} windows, got {} and {}", type_,
                            n * width, n, n, x.size(), y.size()));
  check_finite(x, width);
  torch::NoGradGuard no_grad;
  const torch::Device device = device_of(ctx);
  prepare_inference(device);
  const std::size_t chunk = predict_chunk();
  for (std::size_t i = 0; i < n; i += chunk) {
    const std::size_t m = std::min(chunk, n - i);
    const auto out = const_cast<TorchModel*>(this)
                         ->forward(to_input(x.data() + i * width, m).to(device))
                         .to(torch::kCPU)
                         .contiguous();
    std::copy(out.data_ptr<float>(), out.data_ptr<float>() + m, y.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void TorchModel::save_weights(const fs::path& dir) const {
  torch::serialize::OutputArchive a;
  for (const auto& p : module().named_parameters())
    a.write(p.key(), p.value().detach().to(torch::kCPU));
  save_archive(a, dir / "weights.pt");
}

void TorchModel::load_weights(const fs::path& dir) {
  const fs::path path = dir / "weights.pt";
  if (!fs::exists(path)) throw FileError(path.string(), "", "weights file not found");
  torch::serialize::InputArchive a;
  try {
    a.load_from(path.string());
  } catch (const c10::Error& e) {
    throw FileError(path.string(), "", fmt::format("unreadable weights: {}", e.what_without_backtrace()));
  }
  torch::NoGradGuard no_grad;
  for (auto& p : module().named_parameters()) {
    torch::Tensor t;
    if (!a.try_read(p.key(), t)) throw FileError(path.string(), p.key(), "parameter missing");
    if (t.sizes() != p.value().sizes())
      throw FileError(path.string(), p.key(),
                      fmt::format("shape [{}] differs from the model's [{}]", fmt::join(t.sizes(), ", "),
                                  fmt::join(p.value().sizes(), ", ")));
    p.value().copy_(t);
  }
}

void TorchModel::import_state_dict(const std::vector<std::pair<std::string, StateTensor>>& state) {
  std::map<std::string, const StateTensor*> by_key;
  for (const auto& [k, v] : state)
    by_key[k] = &v;
  torch::NoGradGuard no_grad;
  for (auto& p : module().named_parameters()) {
    const auto it = by_key.find(p.key());
    if (it == by_key.end())
      throw Error(fmt::format("{}: weight '{}' missing from the state dict", type_, p.key()));
    const StateTensor& t = *it->second;
    const std::vector<std::int64_t> want(p.value().sizes().begin(), p.value().sizes().end());
    if (t.shape != want)
      throw Error(
          fmt::format("{}: weight '{}' has shape [{}], the model's is [{}] (check [{}] hyper-parameters)",
                      type_, p.key(), fmt::join(t.shape, ", "), fmt::join(want, ", "), "model." + type_));
    p.value().copy_(
        torch::from_blob(const_cast<float*>(t.values.data()), p.value().sizes(), torch::kFloat32));
    by_key.erase(it);
  }
  for (const auto& [k, v] : by_key)
    if (!ignored_key(k)) throw Error(fmt::format("{}: unexpected weight '{}' in the state dict", type_, k));
}

class MlpModel final : public TorchModel {
 public:
  MlpModel(const InputShape& shape, const MlpParams& p)
      : TorchModel("mlp", WindowLayout::Flat, shape, p.fit, config::to_table(p)), params_(p) {
    build_locked();
  }

 protected:
  void build() override {
    net_ = MlpNet(static_cast<std::int64_t>(shape_.flat_width()), params_.hidden_dims, params_.dropout);
    net_->rng = &rng_;
  }
  torch::nn::Module& module() const override { return *net_; }
  torch::Tensor forward(const torch::Tensor& x) override { return net_->forward(x); }
  // The MLP's activations are small (1.7 kB per window for 245 + 196 units): 2048 windows per pass cost
  // fewer operator calls per window and were 3-5 % faster than 512 in the explainers' large calls (8192 was
  // 30 % slower: the activations no longer stay in cache).
  std::size_t predict_chunk() const override { return 2048; }
  std::string architecture() const override {
    return fmt::format("{} -> {} -> 1, ReLU, dropout {}", shape_.flat_width(),
                       fmt::join(params_.hidden_dims, " -> "), params_.dropout);
  }

 private:
  MlpParams params_;
  mutable MlpNet net_{nullptr};  // modules carry train/eval state: mutable by nature
};

class LstmModel final : public TorchModel {
 public:
  LstmModel(const InputShape& shape, const LstmParams& p)
      : TorchModel("lstm", WindowLayout::Sequence, shape, p.fit, config::to_table(p)), params_(p) {
    build_locked();
  }

 protected:
  void build() override {
    net_ = LstmNet(static_cast<std::int64_t>(shape_.features.size()), params_.hidden_dim, params_.num_layers,
                   params_.dropout);
    net_->rng = &rng_;
  }
  torch::nn::Module& module() const override { return *net_; }
  torch::Tensor forward(const torch::Tensor& x) override { return net_->forward(x); }
  std::string architecture() const override {
    return fmt::format("LSTM({} -> {}, {} layers), last step -> Linear({}, 1), dropout {}",
                       shape_.features.size(), params_.hidden_dim, params_.num_layers, params_.hidden_dim,
                       params_.dropout);
  }

 private:
  LstmParams params_;
  mutable LstmNet net_{nullptr};
};

class AttentionLstmModel final : public TorchModel {
 public:
  AttentionLstmModel(const InputShape& shape, const AttentionLstmParams& p)
      : TorchModel("attention_lstm", WindowLayout::Sequence, shape, p.fit, config::to_table(p)), params_(p) {
    build_locked();
  }
  bool has_attention() const override { return true; }
  // The seed's module holds an LSTM it never uses.
  bool ignored_key(std::string_view key) const override { return key.starts_with("lstm_layer."); }
  void predict_with_attention(std::span<const float> x, std::size_t n, std::span<float> y,
                              std::span<float> alpha, std::span<float> beta,
                              const Context& ctx) const override {
    configure_torch(ctx);
    const std::size_t W = shape_.window, F = shape_.features.size();
    if (x.size() != n * W * F || y.size() != n || alpha.size() != n * W * F || beta.size() != n * W)
      throw Error(
          fmt::format("attention_lstm: buffers for {} windows must hold x {}, y {}, alpha {}, beta {}", n,
                      n * W * F, n, n * W * F, n * W));
    check_finite(x, W * F);
    torch::NoGradGuard no_grad;
    const torch::Device device = device_of(ctx);
    prepare_inference(device);
    constexpr std::size_t kChunk = 2048;  // windows per forward pass: cache-friendly activations
    for (std::size_t i = 0; i < n; i += kChunk) {
      const std::size_t m = std::min(kChunk, n - i);
      torch::Tensor a, b;
      const auto out =
          net_->forward(to_input(x.data() + i * W * F, m).to(device), &a, &b).to(torch::kCPU).contiguous();
      a = a.to(torch::kCPU).contiguous();
      b = b.to(torch::kCPU).contiguous();
      std::copy(out.data_ptr<float>(), out.data_ptr<float>() + m, y.begin() + static_cast<std::ptrdiff_t>(i));
      std::copy(a.data_ptr<float>(), a.data_ptr<float>() + m * W * F,
                alpha.begin() + static_cast<std::ptrdiff_t>(i * W * F));
      std::copy(b.data_ptr<float>(), b.data_ptr<float>() + m * W,
                beta.begin() + static_cast<std::ptrdiff_t>(i * W));
    }
  }

 protected:
  void build() override {
    net_ = AttentionLstmNet(static_cast<std::int64_t>(shape_.features.size()), params_.hidden_dim,
                            params_.dropout);
    net_->rng = &rng_;
  }
  torch::nn::Module& module() const override { return *net_; }
  torch::Tensor forward(const torch::Tensor& x) override { return net_->forward(x); }
  std::string architecture() const override {
    return fmt::format(
        "input attention + LSTMCell({} -> {}) + temporal attention -> Linear({}, 1), dropout {}",
        shape_.features.size(), params_.hidden_dim, params_.hidden_dim, params_.dropout);
  }

 private:
  AttentionLstmParams params_;
  mutable AttentionLstmNet net_{nullptr};
};

}  // namespace

void register_torch_models() {
  provide_model_factory("mlp", [](const InputShape& s, const toml::table& hp) {
    return std::unique_ptr<Model>(std::make_unique<MlpModel>(s, read_params<MlpParams>(hp)));
  });
  provide_model_factory("lstm", [](const InputShape& s, const toml::table& hp) {
    return std::unique_ptr<Model>(std::make_unique<LstmModel>(s, read_params<LstmParams>(hp)));
  });
  provide_model_factory("attention_lstm", [](const InputShape& s, const toml::table& hp) {
    return std::unique_ptr<Model>(
        std::make_unique<AttentionLstmModel>(s, read_params<AttentionLstmParams>(hp)));
  });
}

namespace {
// Loading the plugin registers its factories.
[[maybe_unused]] const bool kRegistered = (register_torch_models(), true);
}  // namespace

}  // namespace fluxkit
