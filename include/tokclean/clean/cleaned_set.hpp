#pragma once
// The result of cleaning a set of examples: the examples with dropped targets relabelled
// -100 (tokens stay in the input, only their loss is masked), and the scores.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "tokclean/clean/token_stats.hpp"
#include "tokclean/core/compiled_once.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/number_format.hpp"

namespace tokclean {

struct CleanedSet {
    std::vector<Example> examples;           // labels of dropped targets set to ignore_label
    std::vector<std::vector<float>> scores;  // per example, aligned with input_ids; NaN = not scored
    std::int64_t targets = 0;                // target tokens before cleaning (position 0 excluded)
    std::int64_t kept = 0;                   // of which kept
    bool warmup = false;                     // a warm-up chunk: trained on in full, not cleaned
};

// Applies `mask` (N, flat over `stats`) to `set`. scores (N) are recorded per position.
inline CleanedSet apply_keep_mask(std::span<const Example> set, const TokenStats& stats,
                                  std::span<const float> scores, std::span<const std::uint8_t> mask) {
    TOKCLEAN_CHECK(stats.offsets.size() == set.size() + 1 && mask.size() == stats.num_tokens() &&
                       scores.size() == stats.num_tokens(),
                   "mask of ", mask.size(), " for ", stats.num_tokens(), " tokens of ", set.size(), " examples");
    CleanedSet out;
    out.examples.assign(set.begin(), set.end());
    out.scores.resize(set.size());
    for (std::size_t e = 0; e < set.size(); ++e) {
        auto& ex = out.examples[e];
        auto& sc = out.scores[e];
        sc.assign(ex.input_ids.size(), std::numeric_limits<float>::quiet_NaN());
        for (auto i = stats.offsets[e]; i < stats.offsets[e + 1]; ++i) {
            const auto j = static_cast<std::size_t>(stats.positions[static_cast<std::size_t>(i)]);
            sc[j] = scores[static_cast<std::size_t>(i)];
            if (mask[static_cast<std::size_t>(i)]) ++out.kept;
            else ex.labels[j] = ignore_label;
        }
    }
    out.targets = static_cast<std::int64_t>(stats.num_tokens());
    return out;
}

// A warm-up chunk passes through unchanged (every target kept, nothing scored).
inline CleanedSet pass_through(std::span<const Example> set) {
    CleanedSet out;
    out.examples.assign(set.begin(), set.end());
    out.scores.resize(set.size());
    for (std::size_t e = 0; e < set.size(); ++e) {
        out.scores[e].assign(set[e].input_ids.size(), std::numeric_limits<float>::quiet_NaN());
        out.targets += set[e].num_targets();
    }
    out.kept = out.targets;
    out.warmup = true;
    return out;
}

// Appends `more` (the next examples of the same pool) to `set`.
inline void append(CleanedSet& set, const CleanedSet& more) {
    set.examples.insert(set.examples.end(), more.examples.begin(), more.examples.end());
    set.scores.insert(set.scores.end(), more.scores.begin(), more.scores.end());
    set.targets += more.targets;
    set.kept += more.kept;
}

// One JSONL line: {"input_ids": [...], "labels": [...]} plus "scores" (null where not scored).
inline std::string cleaned_jsonl_line(const Example& ex, std::span<const float> scores, bool with_scores) {
    std::string line = "{\"input_ids\": [";
    for (std::size_t j = 0; j < ex.input_ids.size(); ++j) {
        if (j) line += ", ";
        line += std::to_string(ex.input_ids[j]);
    }
    line += "], \"labels\": [";
    for (std::size_t j = 0; j < ex.labels.size(); ++j) {
        if (j) line += ", ";
        line += std::to_string(ex.labels[j]);
    }
    line += "]";
    if (with_scores) {
        line += ", \"scores\": [";
        for (std::size_t j = 0; j < scores.size(); ++j) {
            if (j) line += ", ";
            append_float_json(line, scores[j]);
        }
        line += "]";
    }
    return line + "}\n";
}

// Writes `set` as a cleaned JSONL file (one cleaned_jsonl_line per example; with_scores adds
// "scores", which read_cleaned_file and `tokclean select` read back), atomically: the file
// appears whole or not at all.
TOKCLEAN_COMPILED_ONCE void save_cleaned(const std::filesystem::path& path, const CleanedSet& set, bool with_scores = false)
#if TOKCLEAN_DEFINE_COMPILED_ONCE
{
    AtomicFile out(path);
    for (std::size_t i = 0; i < set.examples.size(); ++i)
        out.write(cleaned_jsonl_line(set.examples[i], set.scores[i], with_scores));
    out.commit();
}
#else
    ;
#endif

// Reads back what cleaned_jsonl_line wrote with scores (`clean --with-scores`, the chunk files
// of self-evolving cleaning): the examples, checked as pre-tokenized data for `vocab_size`,
// and their scores (NaN for null). Every line must carry "scores", and every kept target (a
// label other than -100 after position 0) a number there; targets = the scored tokens, kept
// = the kept ones. Errors name the file, the line and the field.
inline CleanedSet read_cleaned_file(const std::filesystem::path& path, std::int32_t vocab_size) {
    ReadOptions ro;
    ro.vocab_size = vocab_size;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open the file");
    CleanedSet out;
    std::size_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
        const JsonWhere w{path.string(), line_no};
        const nlohmann::json obj = parse_json(line, w);
        require_object(obj, w);
        if (detect_format(obj, w) != JsonlFormat::tokenized)
            fail(w.str(), ": expected a cleaned example {\"input_ids\", \"labels\", \"scores\"}");
        Example ex = detail::parse_tokenized(obj, ro, w);
        ex.line = line_no;
        const auto* scores = find_field(obj, "scores");
        if (!scores) fail(w.str(), ": missing required field 'scores' (a cleaned file written with its scores)");
        std::vector<float> sc(ex.size(), std::numeric_limits<float>::quiet_NaN());
        for (std::size_t j = 0; j < ex.size(); ++j) {
            const auto& v = (*scores)[j];
            if (v.is_number()) {
                sc[j] = v.get<float>();
                if (j > 0) ++out.targets;
            }
            if (j > 0 && ex.labels[j] != ignore_label) {
                if (!v.is_number())
                    fail(w.str(), ": field 'scores'[", j, "]: null for a kept target (every target has a score)");
                ++out.kept;
            }
        }
        out.examples.push_back(std::move(ex));
        out.scores.push_back(std::move(sc));
    }
    if (in.bad()) fail(path.string(), ":", line_no + 1, ": read error");
    return out;
}

}  // namespace tokclean
