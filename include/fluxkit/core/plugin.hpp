// Plugins: the parts of fluxkit that pull in large libraries live in shared libraries loaded on first use,
// so that a verb that does not need them starts in milliseconds (Debian's libtorch alone loads ~290 shared
// libraries). Each plugin registers what it provides (model factories, the MPI communicator) from a static
// initializer when it is loaded:
//   libfluxkit_torch.so    mlp, lstm, attention_lstm (libtorch)
//   libfluxkit_xgboost.so  xgboost (XGBoost C API)
//   libfluxkit_mpi.so      the MPI communicator (--mpi)
// They are looked up in $FLUXKIT_PLUGIN_DIR when set, else next to libfluxkit.so.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace fluxkit {

// Loads libfluxkit_<name>.so once (later calls return at once). Error naming the file and the loader's
// message when it is missing (e.g. fluxkit built without libtorch) or fails to load.
void load_plugin(std::string_view name);

// Whether the plugin's file exists (without loading it).
bool plugin_available(std::string_view name);

// The directory plugins are loaded from.
std::filesystem::path plugin_directory();

}  // namespace fluxkit
