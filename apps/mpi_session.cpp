#include "mpi_session.hpp"

#include <cstdlib>
#include <initializer_list>

#ifdef FLUXKIT_HAVE_MPI
#include <mpi.h>
#endif

namespace fluxkit::cli {

namespace {
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}
}  // namespace

MpiSession::MpiSession() {
#ifdef FLUXKIT_HAVE_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  active_ = true;
#endif
}

MpiSession::~MpiSession() {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) MPI_Finalize();
#endif
}

void MpiSession::barrier() const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

long long MpiSession::sum(long long value) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_) {
    long long total = 0;
    MPI_Allreduce(&value, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    return total;
  }
#endif
  return value;
}

void MpiSession::abort(int code) const {
#ifdef FLUXKIT_HAVE_MPI
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace fluxkit::cli
