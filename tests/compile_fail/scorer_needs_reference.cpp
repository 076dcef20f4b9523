// Must NOT compile: LossDelta compares two models, NoReference provides none. The CTest
// checks that the compiler's message is TokenCleaner's static_assert. With
// TOKCLEAN_VALID_COMBINATION the same file uses FixedReference and must compile (so the
// failure above is the combination's, not a typo's).
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/threshold_policies.hpp"

int main() {
#ifdef TOKCLEAN_VALID_COMBINATION
    using Cleaner = tokclean::TokenCleaner<tokclean::Cpu, tokclean::LossDelta, tokclean::GlobalTopK,
                                           tokclean::FixedReference<tokclean::Cpu>>;
#else
    using Cleaner = tokclean::TokenCleaner<tokclean::Cpu, tokclean::LossDelta, tokclean::GlobalTopK,
                                           tokclean::NoReference<>>;
#endif
    Cleaner cleaner({}, {}, {});
    return cleaner.batch_size() > 0 ? 0 : 1;
}
