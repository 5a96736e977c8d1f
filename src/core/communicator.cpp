#include "fluxkit/core/communicator.hpp"

#include <atomic>
#include <cstdlib>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/plugin.hpp"

namespace fluxkit {

namespace {
std::atomic<CommunicatorFactory> mpi_factory{nullptr};
}  // namespace

void provide_mpi_communicator(CommunicatorFactory factory) {
  mpi_factory = factory;
}

std::unique_ptr<Communicator> Communicator::make(bool use_mpi) {
  if (!use_mpi) return std::make_unique<Communicator>();
  load_plugin("mpi");
  const CommunicatorFactory factory = mpi_factory.load();
  if (factory == nullptr) throw Error("--mpi: the mpi plugin registered no communicator");
  return factory();
}

void Communicator::abort(int code) const {
  std::exit(code);
}

}  // namespace fluxkit
