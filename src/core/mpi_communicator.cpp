// The mpi plugin (libfluxkit_mpi.so): the communicator on MPI_COMM_WORLD.
#include "fluxkit/core/communicator.hpp"

#include <algorithm>
#include <cstdlib>

#include <mpi.h>

namespace fluxkit {

namespace {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();
  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool active() const override { return true; }
  int local_size() const override { return local_size_; }
  void barrier() const override;
  long long sum(long long value) const override;
  double sum(double value) const override;
  std::vector<double> gather(std::span<const double> local) const override;
  void reduce_sum(std::vector<double>& data) const override;
  [[noreturn]] void abort(int code) const override;

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

MpiCommunicator::MpiCommunicator() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local) ==
      MPI_SUCCESS) {
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
}

MpiCommunicator::~MpiCommunicator() {
  MPI_Finalize();
}

void MpiCommunicator::barrier() const {
  MPI_Barrier(MPI_COMM_WORLD);
}

long long MpiCommunicator::sum(long long value) const {
  long long total = 0;
  MPI_Allreduce(&value, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  return total;
}

double MpiCommunicator::sum(double value) const {
  double total = 0;
  MPI_Allreduce(&value, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return total;
}

std::vector<double> MpiCommunicator::gather(std::span<const double> local) const {
  if (size_ > 1) {
    const int n = static_cast<int>(local.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_));
    MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<double> all;
    if (rank_ == 0) {
      long long total = 0;
      for (int r = 0; r < size_; ++r) {
        displs[static_cast<std::size_t>(r)] = static_cast<int>(total);
        total += counts[static_cast<std::size_t>(r)];
      }
      all.resize(static_cast<std::size_t>(total));
    }
    MPI_Gatherv(local.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0,
                MPI_COMM_WORLD);
    return all;
  }
  return {local.begin(), local.end()};
}

void MpiCommunicator::reduce_sum(std::vector<double>& data) const {
  if (size_ > 1) {
    constexpr std::size_t kChunk = std::size_t{1} << 26;  // MPI counts are int
    for (std::size_t at = 0; at < data.size(); at += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, data.size() - at));
      if (rank_ == 0)
        MPI_Reduce(MPI_IN_PLACE, data.data() + at, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
      else
        MPI_Reduce(data.data() + at, nullptr, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    }
  }
}

void MpiCommunicator::abort(int code) const {
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

// Loading the plugin registers the communicator.
[[maybe_unused]] const bool kRegistered =
    (provide_mpi_communicator(
         [] { return std::unique_ptr<Communicator>(std::make_unique<MpiCommunicator>()); }),
     true);

}  // namespace

}  // namespace fluxkit
