// A per-turn Threshold policy: one that reads where each target sits, not only its score.
//
//   turn_policy BASE_DIR REF_DIR DATA.jsonl
//
// TurnTopK ranks the targets of each response turn among themselves and keeps the best
// keep_count(n, keep) of the turn's n targets, but never one of the turn's first `skip`
// tokens (a rule such as "do not train on how a reply opens"). TokenScores gives every
// target its position in the example (s.positions) and its 0-based response turn
// (s.turns: a maximal run of consecutive targets, so each assistant turn of a {"messages"}
// example is one, and a prompt/completion example has one). A turn's first target is the
// one whose turn differs from its predecessor's in the same example.
#include <algorithm>
#include <cstdio>
#include <span>
#include <vector>

#include <tokclean/tokclean.hpp>

struct TurnTopK {
    double keep = 0.5;
    std::int32_t skip = 2;

    void select(const tokclean::TokenScores& s, std::span<std::uint8_t> mask) const {
        tokclean::require_finite_scores(s);  // the Threshold contract: never rank NaN
        // Views built by hand may leave positions and turns empty; TokenCleaner fills them.
        if (s.positions.size() != s.num_tokens() || s.turns.size() != s.num_tokens())
            tokclean::fail("TurnTopK: needs the targets' positions and turns");
        std::fill(mask.begin(), mask.end(), 0);
        std::vector<std::size_t> ranked;
        for (std::size_t e = 0; e < s.num_examples(); ++e) {
            const auto end = static_cast<std::size_t>(s.end(e));
            for (auto first = static_cast<std::size_t>(s.begin(e)); first < end;) {
                std::size_t last = first;  // the turn is [first, last)
                while (last < end && s.turns[last] == s.turns[first]) ++last;
                ranked.clear();
                for (std::size_t i = first; i < last; ++i)
                    if (s.positions[i] - s.positions[first] >= skip) ranked.push_back(i);
                // A stable sort by descending score: ties keep the earlier token.
                std::stable_sort(ranked.begin(), ranked.end(),
                                 [&](std::size_t a, std::size_t b) { return s.scores[a] > s.scores[b]; });
                const auto k = std::min(static_cast<std::size_t>(tokclean::keep_count(
                                            static_cast<std::int64_t>(last - first), keep)),
                                        ranked.size());
                for (std::size_t r = 0; r < k; ++r) mask[ranked[r]] = 1;
                first = last;
            }
        }
    }
};
static_assert(tokclean::Threshold<TurnTopK>);

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 4) {
        std::fprintf(stderr, "usage: turn_policy BASE_DIR REF_DIR DATA.jsonl\n");
        return 2;
    }
    LoadedModel b = load_model_dir(argv[1]), r = load_model_dir(argv[2]);
    const std::int32_t eos = b.config.eos_token_id;
    ReadOptions ro;  // pre-tokenized lines, cut to the model's context
    ro.vocab_size = b.config.vocab_size;
    ro.max_len = static_cast<std::size_t>(b.config.n_positions);
    const std::vector<Example> pool = read_examples(argv[3], ro).examples;
    Gpt<Cpu> base(b.config, std::move(b.params)), ref(r.config, std::move(r.params));

    const TurnTopK policy{};
    TokenCleaner<Cpu, LossDelta, TurnTopK, FixedReference<Cpu>> cleaner(LossDelta{}, policy,
                                                                        FixedReference<Cpu>{&ref});
    CleanedSet c;  // a fixed reference cleans the pool as one chunk
    cleaner.run(base, pool, [&](std::size_t, const CleanedSet& chunk) { c = chunk; });

    // The rule, checked on the result: the layout of the pool's targets (the positions and
    // turns the policy saw) against the labels that survived.
    const TokenStats layout = target_layout(pool, eos);
    std::int64_t turns = 0, opening_kept = 0;
    for (std::size_t e = 0; e < pool.size(); ++e) {
        std::int64_t example_turns = 0, kept = 0;
        std::int32_t turn_start = 0;
        const auto first = static_cast<std::size_t>(layout.offsets[e]), end = static_cast<std::size_t>(layout.offsets[e + 1]);
        for (std::size_t i = first; i < end; ++i) {
            if (i == first || layout.turns[i] != layout.turns[i - 1]) {
                ++example_turns;
                turn_start = layout.positions[i];
            }
            if (c.examples[e].labels[static_cast<std::size_t>(layout.positions[i])] == ignore_label) continue;
            ++kept;
            if (layout.positions[i] - turn_start < policy.skip) ++opening_kept;
        }
        std::printf("example %zu: %lld turn(s), kept %lld of %zu targets\n", e, static_cast<long long>(example_turns),
                    static_cast<long long>(kept), end - first);
        turns += example_turns;
    }
    if (opening_kept != 0) {
        std::fprintf(stderr, "turn_policy: %lld target(s) kept among the first %d of a turn\n",
                     static_cast<long long>(opening_kept), policy.skip);
        return 1;
    }
    std::printf("kept %lld of %lld target tokens in %lld turns, none among the first %d of a turn\n",
                static_cast<long long>(c.kept), static_cast<long long>(c.targets), static_cast<long long>(turns),
                policy.skip);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "turn_policy: error: %s\n", e.what());
    return 1;
}
