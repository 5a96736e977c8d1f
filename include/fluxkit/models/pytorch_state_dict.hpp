// Reading PyTorch state dicts without libtorch. Weights trained by a Python pipeline are saved with
// `torch.save(model.state_dict(), "x.pt")`; libtorch 1.13's torch::pickle_load cannot read an OrderedDict
// state dict, so fluxkit reads the format itself: a zip archive (entries stored, not compressed) holding
// <name>/data.pkl, a pickle of the dict whose tensors refer to storages <name>/data/<key> by persistent id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace fluxkit {

struct StateTensor {
  std::vector<std::int64_t> shape;  // empty for a 0-d tensor (one value)
  std::vector<float> values;        // row-major (C order), converted to float32
  std::string dtype;  // the stored dtype: "float32", "float64", "float16", "bfloat16", "int64", "int32",
                      // "int16", "int8", "uint8", "bool"
};

// Reads a state dict saved by torch.save(module.state_dict(), path) (zip archive with <name>/data.pkl and
// <name>/data/<key> storages; ZIP_STORED entries, ZIP64 accepted). Keys in file order. The dict may be an
// OrderedDict (its _metadata is ignored) or a plain dict; nn.Parameter values are read as their data; a plain
// Python number value (not a tensor) becomes a 0-d entry with dtype "int64", "float64" or "bool".
// Throws fluxkit::FileError naming the file and the problem for: not a zip, a legacy (non-zip) torch.save
// file, a TorchScript archive, a compressed entry, a pickle construct outside the supported subset (names the
// opcode or the global), a value that is not a tensor or number, a non-contiguous tensor (save
// t.contiguous()), a missing or too short storage, an unsupported dtype, a truncated or corrupt file (CRC).
std::vector<std::pair<std::string, StateTensor>> read_pytorch_state_dict(const std::filesystem::path& path);

}  // namespace fluxkit
