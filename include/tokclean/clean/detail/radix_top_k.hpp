#pragma once
// The large-span path of top_k_mask: a radix select on the 32-bit rank keys, 16 bits per
// pass, with per-thread histograms and no copy of the scores.
//   pass 1  histogram of the top 16 bits -> the bin `high` holding the k-th key, and the
//           number of tokens above it; non-finite scores show up in the outermost bins,
//           so this pass doubles as the finiteness check;
//   pass 2  histogram of the low 16 bits of the tokens in bin `high` -> the k-th key `cut`
//           and `need`, how many of the tokens equal to `cut` are kept;
//   pass 3  keep every key > cut and the first `need` tokens equal to cut in index order.
// Thread t owns one contiguous chunk in all passes, so its pass-2 histogram says how many
// ties at the cut its chunk holds; the ties are dealt to the chunks in index order before
// pass 3, which makes the mask the same for every thread count.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/detail/rank_key.hpp"

namespace tokclean::detail {

// The least work worth a thread of its own in the radix passes.
inline constexpr std::int64_t radix_min_per_thread = std::int64_t{1} << 18;

// Keys are computed a block at a time into a small buffer, which lets the compiler vectorise
// the key transform apart from the (scalar) histogram updates.
inline constexpr std::int64_t radix_block = 256;

// total[b] = the sum over the first `threads` per-thread histograms of bin b.
template <class Count>
void sum_histograms(const std::vector<Count>& hist, std::int64_t threads, std::vector<std::int64_t>& total) {
    const std::size_t bins = total.size();
    std::fill(total.begin(), total.end(), std::int64_t{0});
    for (std::size_t u = 0; u < static_cast<std::size_t>(threads); ++u)
        for (std::size_t b = 0; b < bins; ++b) total[b] += static_cast<std::int64_t>(hist[u * bins + b]);
}

// The bin of total[] (counts of one 16-bit digit) holding the rank-th largest key (1-based),
// and how many keys lie in the bins above it.
inline std::uint32_t find_digit(const std::vector<std::int64_t>& total, std::int64_t rank, std::int64_t& above) {
    above = 0;
    std::size_t b = total.size() - 1;
    for (; b > 0 && above + total[b] < rank; --b) above += total[b];
    return static_cast<std::uint32_t>(b);
}

// rank_key of +-inf and NaN have a top digit in [0, 0x7F] (sign set) or [0xFF80, 0xFFFF]
// (sign clear); no finite float's key does.
inline bool has_non_finite(const std::vector<std::int64_t>& top_digits) {
    std::int64_t bad = 0;
    for (std::size_t b = 0; b < 0x80; ++b) bad += top_digits[b] + top_digits[0xFF80 + b];
    return bad != 0;
}

// mask[i] = 1 for the first k tokens of a stable descending sort of x, 0 for the others;
// 0 < k < x.size(). Count is the per-thread histogram counter: uint32 unless a thread's
// chunk could overflow it. Returns false, with mask untouched, if a score is not finite.
template <class Count>
bool top_k_mask_radix(std::span<const float> x, std::int64_t k, std::span<std::uint8_t> mask) {
    constexpr std::size_t bins = std::size_t{1} << 16;
    const auto n = static_cast<std::int64_t>(x.size());
    const int threads = static_cast<int>(std::clamp<std::int64_t>(n / radix_min_per_thread, 1, max_threads()));
    std::vector<Count> hist(static_cast<std::size_t>(threads) * bins, Count{0});
    std::vector<std::int64_t> total(bins), quota(static_cast<std::size_t>(threads));
    std::uint32_t high = 0, cut = 0;  // the top digit of the cut key; the cut key
    std::int64_t above_high = 0;      // tokens whose top digit is above `high`
    bool finite = true;
    const float* xs = x.data();
    std::uint8_t* out = mask.data();

#pragma omp parallel num_threads(threads)
    {
        const std::int64_t nt = team_size(), t = team_index();
        const std::int64_t lo = n / nt * t + std::min(t, n % nt);
        const std::int64_t hi = lo + n / nt + (t < n % nt ? 1 : 0);
        Count* h = hist.data() + static_cast<std::size_t>(t) * bins;
        std::uint32_t keys[radix_block];

        // Pass 1: histogram of the top 16 bits.
        for (std::int64_t i = lo; i < hi; i += radix_block) {
            const std::int64_t m = std::min(radix_block, hi - i);
            for (std::int64_t j = 0; j < m; ++j) keys[j] = rank_key(xs[i + j]) >> 16;
            for (std::int64_t j = 0; j < m; ++j) ++h[keys[j]];
        }
#pragma omp barrier
#pragma omp single
        {
            sum_histograms(hist, nt, total);
            finite = !has_non_finite(total);
            high = find_digit(total, k, above_high);
        }  // implicit barrier: every thread sees `finite` and `high`
        if (finite) {
            std::fill(h, h + bins, Count{0});

            // Pass 2: histogram of the low 16 bits of the tokens in bin `high`, a small
            // share of N for real scores: most blocks hold none and cost one vector test.
            for (std::int64_t i = lo; i < hi; i += radix_block) {
                const std::int64_t m = std::min(radix_block, hi - i);
                std::uint32_t hit = 0;
                for (std::int64_t j = 0; j < m; ++j) {
                    keys[j] = rank_key(xs[i + j]);
                    hit |= (keys[j] >> 16) == high;
                }
                if (hit)
                    for (std::int64_t j = 0; j < m; ++j)
                        if ((keys[j] >> 16) == high) ++h[keys[j] & 0xFFFFu];
            }
#pragma omp barrier
#pragma omp single
            {
                sum_histograms(hist, nt, total);
                std::int64_t above_low = 0;
                const std::uint32_t low = find_digit(total, k - above_high, above_low);
                cut = (high << 16) | low;
                // Thread u's chunk holds hist[u][low] ties at the cut; it takes what the
                // earlier chunks left of the `need` ties kept.
                std::int64_t need = k - above_high - above_low;  // >= 1
                for (std::size_t u = 0; u < static_cast<std::size_t>(nt); ++u) {
                    quota[u] = std::min(need, static_cast<std::int64_t>(hist[u * bins + low]));
                    need -= quota[u];
                }
            }

            // Pass 3: write the mask. Only the chunk where the tie quota runs out needs the
            // counting loop; the others are one vectorised comparison per token.
            const std::int64_t my_quota = quota[static_cast<std::size_t>(t)];
            const auto my_ties = static_cast<std::int64_t>(h[cut & 0xFFFFu]);
            if (my_quota == my_ties) {
                for (std::int64_t i = lo; i < hi; ++i) out[i] = rank_key(xs[i]) >= cut;
            } else if (my_quota == 0) {
                for (std::int64_t i = lo; i < hi; ++i) out[i] = rank_key(xs[i]) > cut;
            } else {
                std::int64_t taken = 0;
                for (std::int64_t i = lo; i < hi; ++i) {
                    const std::uint32_t key = rank_key(xs[i]);
                    const bool take_tie = key == cut && taken < my_quota;
                    taken += take_tie;
                    out[i] = key > cut || take_tie;
                }
            }
        }
    }
    return finite;
}

}  // namespace tokclean::detail
