// MPI for the verbs that split work across processes and machines (`mpirun -n N fluxkit reconstruct ...`).
// MPI is initialised only when the process was launched by an MPI launcher; otherwise this is rank 0 of 1.
#pragma once

#include <span>
#include <vector>

namespace fluxkit::cli {

class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

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

}  // namespace fluxkit::cli
