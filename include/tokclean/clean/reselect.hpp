#pragma once
// Selecting again from recorded scores, without a model: a file that cleaning wrote with its
// scores (read_cleaned_file) holds every scored target's score, so any Threshold policy can be
// applied to it again — a sweep over keep fractions in seconds instead of a rescoring. The
// result is exactly what TokenCleaner gives with that policy on the same scores: the targets
// are the scored tokens in (example, position) order, as collect_token_stats lays them out,
// and the scores are the recorded floats (written in their shortest round-trip form).
//
// A dropped target's label was set to -100, so its label is restored from input_ids: labels
// equal input_ids wherever they are targets in every format tokclean reads and writes (text,
// prompt/completion, messages, and Hugging Face's pre-tokenized form). A kept target whose
// label differs from its input id shows a file where that does not hold (shifted labels): it
// is refused, since the dropped labels could not be restored.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokclean/clean/cleaned_set.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_stats.hpp"

namespace tokclean {

// The examples of `scored` with every scored target's label restored, their targets laid out
// as TokenStats (positions, turns and is_eos; no losses), and the flat scores (N). The scored
// targets are the original ones, so the turns are those cleaning saw. `source` names the file
// in errors.
struct RecordedScores {
    std::vector<Example> examples;
    TokenStats layout;
    std::vector<float> scores;
};

inline RecordedScores recorded_scores(const CleanedSet& scored, std::int32_t eos_id, const std::string& source) {
    RecordedScores r;
    r.examples = scored.examples;
    r.layout.offsets.push_back(0);
    for (std::size_t e = 0; e < r.examples.size(); ++e) {
        Example& ex = r.examples[e];
        const std::vector<float>& sc = scored.scores[e];
        for (std::size_t j = 1; j < ex.size(); ++j) {
            if (std::isnan(sc[j])) continue;  // not a target
            if (ex.labels[j] == ignore_label) ex.labels[j] = ex.input_ids[j];
            else if (ex.labels[j] != ex.input_ids[j])
                fail(source, ":", ex.line, ": field 'labels'[", j, "]: ", ex.labels[j], " differs from input_ids[", j,
                     "] = ", ex.input_ids[j], " (labels must equal input_ids at targets to restore the dropped ones)");
            r.layout.add_target(static_cast<std::int32_t>(j), ex.labels[j] == eos_id);
            r.scores.push_back(sc[j]);
        }
        r.layout.end_example();
    }
    return r;
}

// `policy` applied to the recorded scores: the same CleanedSet as cleaning with it.
template <Threshold P>
CleanedSet reselect(const CleanedSet& scored, const P& policy, std::int32_t eos_id, const std::string& source) {
    const RecordedScores r = recorded_scores(scored, eos_id, source);
    std::vector<std::uint8_t> mask(r.scores.size());  // (N) 1 = keep
    policy.select(r.layout.view(r.scores), mask);
    return apply_keep_mask(r.examples, r.layout, r.scores, mask);
}

}  // namespace tokclean
