#pragma once
// One place that sets how many CPU threads the math uses (OpenMP loops and Eigen's GEMM).
#ifdef _OPENMP
#include <omp.h>
#endif
#include <Eigen/Core>

namespace tokclean {

inline int cpu_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// n <= 0 leaves the default (OMP_NUM_THREADS, else every core).
inline void set_cpu_threads(int n) {
    if (n <= 0) return;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    Eigen::setNbThreads(n);
}

}  // namespace tokclean
