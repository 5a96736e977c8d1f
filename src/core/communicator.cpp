#include "fluxkit/core/communicator.hpp"

#include <algorithm>
#include <cstdlib>

#include "fluxkit/core/error.hpp"

#ifdef FLUXKIT_HAVE_MPI
#include <mpi.h>
#endif

namespace fluxkit {

Communicator::Communicator(bool use_mpi) {
  if (!use_mpi) return;
#ifndef FLUXKIT_HAVE_MPI
  throw Error("--mpi: this fluxkit was built without MPI");
#else
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
  active_ = true;
#endif
}

Communicator::~Communicator() {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) MPI_Finalize();
#endif
}

void Communicator::barrier() const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

long long Communicator::sum(long long value) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) {
    long long total = 0;
    MPI_Allreduce(&value, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    return total;
  }
#endif
  return value;
}

double Communicator::sum(double value) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) {
    double total = 0;
    MPI_Allreduce(&value, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return total;
  }
#endif
  return value;
}

std::vector<double> Communicator::gather(std::span<const double> local) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_ && size_ > 1) {
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
#endif
  return {local.begin(), local.end()};
}

void Communicator::reduce_sum(std::vector<double>& data) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_ && size_ > 1) {
    constexpr std::size_t kChunk = std::size_t{1} << 26;  // MPI counts are int
    for (std::size_t at = 0; at < data.size(); at += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, data.size() - at));
      if (rank_ == 0)
        MPI_Reduce(MPI_IN_PLACE, data.data() + at, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
      else
        MPI_Reduce(data.data() + at, nullptr, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    }
  }
#else
  (void)data;
#endif
}

void Communicator::abort(int code) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace fluxkit
