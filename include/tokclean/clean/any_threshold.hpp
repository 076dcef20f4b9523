#pragma once
// A Threshold chosen at run time (the CLI's --select): wraps any Threshold policy behind one
// type, so the program instantiates the cleaner once instead of once per policy.
#include <functional>
#include <span>
#include <utility>

#include "tokclean/clean/threshold.hpp"

namespace tokclean {

class AnyThreshold {
public:
    template <Threshold P>
        requires(!std::same_as<P, AnyThreshold>)
    AnyThreshold(P policy)  // NOLINT: implicit, any policy converts
        : select_([p = std::move(policy)](const TokenScores& s, std::span<std::uint8_t> mask) {
              p.select(s, mask);
          }) {}

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const { select_(s, mask); }

private:
    std::function<void(const TokenScores&, std::span<std::uint8_t>)> select_;
};

static_assert(Threshold<AnyThreshold>);

}  // namespace tokclean
