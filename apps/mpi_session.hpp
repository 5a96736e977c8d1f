// MPI for the verbs that split work across processes and machines (`mpirun -n N fluxkit reconstruct ...`).
// MPI is initialised only when the process was launched by an MPI launcher; otherwise this is rank 0 of 1.
#pragma once

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
  // Aborts every rank after an error on one (so the others do not wait forever in a barrier).
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
  bool active_ = false;
};

}  // namespace fluxkit::cli
