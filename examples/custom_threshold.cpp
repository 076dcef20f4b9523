// Plugging a user-written Threshold policy into TokenCleaner.
//
//   custom_threshold BASE_DIR REF_DIR DATA.jsonl
//
// KeepAboveExampleMean keeps, inside each example, the target tokens whose score is above
// that example's mean score: a per-example rule with no global keep ratio. Any struct with
//   void select(const TokenScores&, std::span<std::uint8_t> keep) const;
// satisfies the Threshold concept and composes with the guards (KeepEos, MinPerExample).
#include <cstdio>
#include <span>

#include <tokclean/tokclean.hpp>

struct KeepAboveExampleMean {
    void select(const tokclean::TokenScores& s, std::span<std::uint8_t> keep) const {
        tokclean::require_finite_scores(s);  // the Threshold contract: never rank NaN
        for (std::size_t e = 0; e < s.num_examples(); ++e) {
            double mean = 0.0;
            for (auto i = s.begin(e); i < s.end(e); ++i) mean += s.scores[static_cast<std::size_t>(i)];
            mean /= static_cast<double>(std::max<std::int64_t>(1, s.end(e) - s.begin(e)));
            for (auto i = s.begin(e); i < s.end(e); ++i)
                keep[static_cast<std::size_t>(i)] = s.scores[static_cast<std::size_t>(i)] > mean;
        }
    }
};
static_assert(tokclean::Threshold<KeepAboveExampleMean>);

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 4) {
        std::fprintf(stderr, "usage: custom_threshold BASE_DIR REF_DIR DATA.jsonl\n");
        return 2;
    }
    LoadedModel b = load_model_dir(argv[1]), r = load_model_dir(argv[2]);
    Gpt<Cpu> base(b.config, std::move(b.params)), ref(r.config, std::move(r.params));
    ReadOptions ro;
    ro.vocab_size = b.config.vocab_size;
    const std::vector<Example> pool = read_examples(argv[3], ro).examples;

    // The guard keeps each response's closing EOS whatever the rule says.
    using Policy = KeepEos<KeepAboveExampleMean>;
    TokenCleaner<Cpu, LossDelta, Policy, FixedReference<Cpu>> cleaner(LossDelta{}, Policy{}, FixedReference<Cpu>{&ref});
    cleaner.run(base, pool, [](std::size_t, const CleanedSet& c) {
        std::printf("kept %lld of %lld target tokens\n", static_cast<long long>(c.kept),
                    static_cast<long long>(c.targets));
        for (std::size_t e = 0; e < c.examples.size(); ++e)
            std::fputs(cleaned_jsonl_line(c.examples[e], c.scores[e], true).c_str(), stdout);
    });
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "custom_threshold: error: %s\n", e.what());
    return 1;
}
