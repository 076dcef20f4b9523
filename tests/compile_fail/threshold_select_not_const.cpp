// Must NOT compile: a Threshold whose select() is not const. The CTest checks that the
// compiler names that requirement (TokenCleaner's static_assert), not a concept's "constraints
// not satisfied". With TOKCLEAN_VALID_COMBINATION the same policy with a const select() must
// compile (so the failure is the missing const, not a typo).
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/threshold_policies.hpp"

struct KeepAll {
#ifdef TOKCLEAN_VALID_COMBINATION
    void select(const tokclean::TokenScores&, std::span<std::uint8_t> mask) const {
#else
    void select(const tokclean::TokenScores&, std::span<std::uint8_t> mask) {
#endif
        for (auto& m : mask) m = 1;
    }
};

int main() {
    using Cleaner = tokclean::TokenCleaner<tokclean::Cpu, tokclean::BaseLoss, KeepAll, tokclean::NoReference<>>;
    Cleaner cleaner({}, {}, {});
    return cleaner.batch_size() > 0 ? 0 : 1;
}
