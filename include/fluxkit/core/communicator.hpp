// The processes a run is split across: rank 0 of 1 (serial), or the ranks of MPI_COMM_WORLD. MPI is used
// only when asked for (`--mpi`): a fluxkit started by a program that itself runs under mpirun/srun (LUMIA,
// say) inherits the launcher's environment but must not call MPI_Init in a child process.
#pragma once

#include <span>
#include <vector>

namespace fluxkit {

class Communicator {
 public:
  // `use_mpi`: initialise MPI (MPI_THREAD_FUNNELED) and run as a rank of MPI_COMM_WORLD; Error when fluxkit
  // was built without MPI. Otherwise rank 0 of 1, and MPI is never touched.
  explicit Communicator(bool use_mpi = false);
  ~Communicator();  // MPI_Finalize when MPI was initialised
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool active() const { return active_; }
  void barrier() const;
  // Sum of a count over ranks (on every rank).
  long long sum(long long value) const;
  double sum(double value) const;
  // Ranks on this machine (MPI-3 shared-memory communicator; 1 without MPI).
  int local_size() const { return local_size_; }
  // The ranks' arrays concatenated in rank order on rank 0 (empty on the others).
  std::vector<double> gather(std::span<const double> local) const;
  // Element-wise sum over ranks into `data` on rank 0 (the other ranks' data is left unspecified). All ranks
  // must pass the same size.
  void reduce_sum(std::vector<double>& data) const;
  // Aborts every rank after an error on one (so the others do not wait forever in a barrier).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool active_ = false;
};

}  // namespace fluxkit
