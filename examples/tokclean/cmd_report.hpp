#pragma once
// `tokclean report`: one self-contained HTML page about a cleaned file (kept/dropped tokens
// coloured by score, the score histogram with the threshold, totals, token kinds). The page
// itself is written by tokclean/io/html_report.hpp; this verb picks the token texts.
#include <optional>

#include "common.hpp"
#include "tokclean/io/html_report.hpp"
#include "tokclean/io/number_format.hpp"

namespace tokclean::cli {

struct ReportFlags {
    fs::path data, out, model, kinds;
    std::int64_t max_examples = 50;

    static constexpr VerbHelp help{"report", "an HTML page of a cleaned file: kept/dropped tokens coloured by score"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--data", f.data, "cleaned JSONL (tokclean clean --with-scores)", required);
        v.option("--out", f.out, "HTML file to write", required);
        v.option("--model", f.model, "model directory whose tokenizer shows the tokens as text");
        v.option("--max-examples", f.max_examples, "examples shown token by token", non_negative_integer());
        v.option("--kinds", f.kinds, "JSONL aligned with --data: {\"kinds\": \"PPBI...\"}, one letter per token");
    }
};

inline HtmlReportSummary run_report(const GlobalFlags& g, const ReportFlags& f) {
    check_paths({{"--data", f.data}, {"--model", f.model}, {"--kinds", f.kinds}}, {{"--out", f.out}});
    HtmlReportOptions o;
    o.max_examples = static_cast<std::size_t>(f.max_examples);
    std::optional<ModelTokenizer> tok;  // outlives write_html_report (token_text refers to it)
    if (!f.model.empty()) {
        const ModelInfo config = read_model_info(f.model);
        tok.emplace(f.model, config);
        o.vocab_size = config.vocab_size;
        if (*tok) {
            const TokenizerRef ref = tok->ref();
            const std::int32_t eos = config.eos_token_id;
            const bool byte = config.tokenizer == "byte";
            o.token_text = [ref, eos, byte](std::int32_t id) {
                // Each token on its own: a byte-level token may hold part of a character.
                return ReportToken{ref.decode(std::span<const std::int32_t>(&id, 1)), id == eos || (byte && id >= 256)};
            };
            o.tokenizer_label = std::string(ref.name()) + " tokenizer of " + f.model.string();
        } else {
            o.token_text = [](std::int32_t id) {
                return ReportToken{"\xE2\x9F\xA8" + std::to_string(id) + "\xE2\x9F\xA9", true};
            };
            o.tokenizer_label = "ids (" + f.model.string() + " has no tokenizer)";
        }
    }
    const HtmlReportSummary s = write_html_report(f.data, f.out, o, f.kinds);
    log(g, "report: " + std::to_string(s.examples) + " examples, " + std::to_string(s.rendered) + " shown -> " +
               f.out.string());
    std::cout << "{\"out\": " << quoted(f.out.string()) << ", \"examples\": " << s.examples
              << ", \"tokens\": " << s.tokens;
    if (s.has_scores) {
        std::cout << ", \"scored\": " << s.scored << ", \"kept\": " << s.kept
                  << ", \"kept_fraction\": " << fixed(s.kept_fraction(), 6) << ", \"threshold\": ";
        if (s.threshold) std::cout << shortest(*s.threshold);
        else std::cout << "null";
    } else {
        std::cout << ", \"targets\": " << s.targets;
    }
    std::cout << "}\n";
    return s;
}

}  // namespace tokclean::cli
