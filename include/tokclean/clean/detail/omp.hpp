#pragma once
// The few OpenMP helpers the threshold policies share. Without OpenMP everything runs on one
// thread with the same results: no policy's output depends on the thread count.
#include <cstdint>
#include <exception>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace tokclean::detail {

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
inline int team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}
inline int team_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Below this much work (tokens) a parallel region costs more than it saves, and far more
// when other processes hold the cores (a preempted thread stalls the whole team).
inline constexpr std::int64_t parallel_min_tokens = std::int64_t{1} << 16;

// Calls body(g, scratch) for g in [0, n) over the threads when `tokens` (the work in all)
// is worth it, each thread with its own Scratch object (reused between its groups). An
// exception must not leave an OpenMP region, so the first one is caught there and rethrown.
template <class Scratch, class Body>
void for_each_group(std::int64_t n, [[maybe_unused]] std::int64_t tokens, Body&& body) {
    std::exception_ptr error;
#pragma omp parallel if (n > 1 && tokens >= parallel_min_tokens)
    {
        Scratch scratch;
#pragma omp for schedule(dynamic, 16)
        for (std::int64_t g = 0; g < n; ++g) {
            try {
                body(g, scratch);
            } catch (...) {
#pragma omp critical(tokclean_for_each_group)
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace tokclean::detail
