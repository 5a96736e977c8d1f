// The processes a run is split across: rank 0 of 1 (serial), or the ranks of MPI_COMM_WORLD. MPI is used
// only when asked for (`--mpi`): a fluxkit started by a program that itself runs under mpirun/srun (LUMIA,
// say) inherits the launcher's environment but must not call MPI_Init in a child process. The MPI
// implementation lives in the `mpi` plugin (core/plugin.hpp), so programs that do not use it never load
// libmpi.
#pragma once

#include <memory>
#include <span>
#include <vector>

namespace fluxkit {

// Serial by default (rank 0 of 1; every collective is the identity).
class Communicator {
 public:
  Communicator() = default;
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // `use_mpi`: the MPI communicator (loads the plugin, MPI_Init_thread FUNNELED; MPI_Finalize when it is
  // destroyed); FileError naming the plugin when fluxkit was built without MPI. Else a serial one.
  static std::unique_ptr<Communicator> make(bool use_mpi);

  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  virtual bool active() const { return false; }  // MPI in use
  // Ranks on this machine (MPI-3 shared-memory communicator; 1 without MPI).
  virtual int local_size() const { return 1; }
  virtual void barrier() const {}
  // Sum of a count over ranks (on every rank).
  virtual long long sum(long long value) const { return value; }
  virtual double sum(double value) const { return value; }
  // The ranks' arrays concatenated in rank order on rank 0 (empty on the others).
  virtual std::vector<double> gather(std::span<const double> local) const {
    return {local.begin(), local.end()};
  }
  // Element-wise sum over ranks into `data` on rank 0 (the other ranks' data is left unspecified). All ranks
  // must pass the same size.
  virtual void reduce_sum(std::vector<double>& data) const { (void)data; }
  // Aborts every rank after an error on one (so the others do not wait forever in a barrier).
  [[noreturn]] virtual void abort(int code) const;
};

// What the mpi plugin registers when it is loaded.
using CommunicatorFactory = std::unique_ptr<Communicator> (*)();
void provide_mpi_communicator(CommunicatorFactory factory);

}  // namespace fluxkit
