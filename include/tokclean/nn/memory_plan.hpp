#pragma once
// What a run will hold in memory, estimated before it allocates, and refused up front with the
// estimate when the machine does not have it (rather than by the kernel's OOM killer halfway).
//
//   MemoryPlan plan = training_memory(model, B, T);       // weights, gradients, AdamW, activations
//   require_memory(plan, "train");                         // Error naming each part, or nothing
//
// The memory available is the smaller of /proc/meminfo's MemAvailable and the cgroup's limit
// less its use (containers), checked once the weights are loaded (they count as used). Or,
// when TOKCLEAN_MEMORY_LIMIT is set (bytes, or with a K, M, G suffix), that is what the run may
// hold in all, weights included: a cap, to share a machine or to test the refusals.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "tokclean/core/error.hpp"
#include "tokclean/nn/causal_lm.hpp"

namespace tokclean {

struct MemoryPlan {
    std::int64_t weights = 0;    // bytes of every weight held (a frozen LoRA base included)
    std::int64_t gradients = 0;  // of the trained parameters
    std::int64_t optimizer = 0;  // AdamW's two moments
    std::int64_t working = 0;    // activations, scratch, logits of the largest batch
    std::int64_t total() const { return weights + gradients + optimizer + working; }
};

namespace memory_detail {

inline std::string gib(std::int64_t bytes) {
    std::ostringstream s;
    s.precision(bytes >= (std::int64_t{10} << 30) ? 1 : 2);
    s << std::fixed << static_cast<double>(bytes) / static_cast<double>(std::int64_t{1} << 30) << " GiB";
    return s.str();
}

// "123", "8G", "512M": bytes; nullopt when not such a number.
inline std::optional<std::int64_t> parse_bytes(const std::string& text) {
    std::size_t used = 0;
    long double v = 0;
    try {
        v = std::stold(text, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    std::string unit = text.substr(used);
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
    const long double scale = unit.empty() ? 1.0L
                              : unit == "K" || unit == "k" ? 1024.0L
                              : unit == "M" || unit == "m" ? 1048576.0L
                              : unit == "G" || unit == "g" ? 1073741824.0L
                              : unit == "T" || unit == "t" ? 1099511627776.0L
                                                           : -1.0L;
    if (scale < 0 || !(v >= 0) || v * scale > 9.0e18L) return std::nullopt;
    return static_cast<std::int64_t>(v * scale);
}

// A number from the first line of `path` ("max" and unreadable files: nullopt).
inline std::optional<std::int64_t> read_number(const char* path) {
    std::ifstream in(path);
    std::string word;
    if (!(in >> word) || word == "max") return std::nullopt;
    return parse_bytes(word);
}

}  // namespace memory_detail

// TOKCLEAN_MEMORY_LIMIT, when set: the bytes a run may hold in all.
inline std::optional<std::int64_t> memory_limit() {
    const char* limit = std::getenv("TOKCLEAN_MEMORY_LIMIT");
    if (!limit || !*limit) return std::nullopt;
    const auto v = memory_detail::parse_bytes(limit);
    if (!v) fail("TOKCLEAN_MEMORY_LIMIT: '", limit, "' is not a number of bytes (e.g. 8G, 512M)");
    return v;
}

// Bytes this process may still allocate, as far as the system says (TOKCLEAN_MEMORY_LIMIT when
// set); nullopt: unknown.
inline std::optional<std::int64_t> available_memory() {
    using namespace memory_detail;
    if (const auto limit = memory_limit()) return limit;
    std::optional<std::int64_t> avail;
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        std::int64_t kib = 0;
        meminfo >> kib;
        if (key == "MemAvailable:") avail = kib * 1024;
        meminfo.ignore(1 << 10, '\n');
    }
    const auto max = read_number("/sys/fs/cgroup/memory.max");
    const auto cur = read_number("/sys/fs/cgroup/memory.current");
    if (max && cur) avail = std::min(avail.value_or(*max - *cur), *max - *cur);
    return avail;
}

// Training `model` on batches of up to (B, T): its weights, the trained parameters' gradients
// and AdamW moments, one forward and backward's working memory.
template <class D>
MemoryPlan training_memory(const CausalLm<D>& model, std::int64_t B, std::int64_t T) {
    const std::int64_t trained = model.flat_params().numel() * 4;
    return {model.weight_bytes(), trained, 2 * trained, model.working_bytes(B, T, ForwardFor::backward)};
}

// Scoring with `model` on batches of up to (B, T).
template <class D>
MemoryPlan scoring_memory(const CausalLm<D>& model, std::int64_t B, std::int64_t T) {
    return {model.weight_bytes(), 0, 0, model.working_bytes(B, T, ForwardFor::scoring)};
}

// What the rest of a run may take once `weights` bytes of weights are loaded: the memory
// available, or TOKCLEAN_MEMORY_LIMIT less the weights; nullopt: unknown.
inline std::optional<std::int64_t> memory_after_weights(std::int64_t weights) {
    if (const auto limit = memory_limit()) return *limit - weights;
    return available_memory();
}

// The largest batch, of at most `most` examples of up to T tokens, whose scoring working memory
// fits in 90% of the memory left beside the weights: `most` halved until it fits, 1 at least
// (require_memory then refuses what even one example cannot do); `most` where the memory is
// unknown.
template <class D>
std::int64_t scoring_batch_that_fits(const CausalLm<D>& model, std::int64_t T, std::int64_t most = 64) {
    const auto left = memory_after_weights(model.weight_bytes());
    if (!left) return most;
    std::int64_t batch = std::max<std::int64_t>(most, 1);
    while (batch > 1 && model.working_bytes(batch, T, ForwardFor::scoring) > *left / 10 * 9) batch /= 2;
    return batch;
}

// Error when `plan` exceeds the memory left beside the weights, which are loaded when it is
// called (`what`: the run, for the message).
inline void require_memory(const MemoryPlan& plan, const std::string& what, const std::string& advice) {
    const auto left = memory_after_weights(plan.weights);
    if (!left) return;
    const std::int64_t needed = plan.gradients + plan.optimizer + plan.working;
    if (needed <= *left) return;
    using memory_detail::gib;
    const std::string parts = "gradients " + gib(plan.gradients) + ", AdamW " + gib(plan.optimizer) +
                              ", activations and logits " + gib(plan.working);
    if (const auto limit = memory_limit())
        fail(what, ": needs about ", gib(plan.weights + needed), " (weights ", gib(plan.weights), ", ", parts,
             ") but TOKCLEAN_MEMORY_LIMIT allows ", gib(*limit), ": ", advice);
    fail(what, ": needs about ", gib(needed), " more (", parts, "; weights ", gib(plan.weights), " loaded) but ",
         gib(*left), " is available: ", advice);
}

}  // namespace tokclean
