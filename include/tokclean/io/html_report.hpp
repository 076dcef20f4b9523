#pragma once
// A self-contained HTML page about a cleaned file (`tokclean clean --with-scores` output):
// totals, a histogram of the scores split into kept and dropped with the selection threshold
// marked, a table per token kind (optional), and the first examples token by token, each
// coloured by its score. One file: inline CSS and SVG, no script, no external resource.
//
// Input: one JSON object per line, {"input_ids": [...], "labels": [...], "scores": [...]}.
// Position j is "scored" when scores[j] is a number; scored and labels[j] != -100 is "kept",
// scored and labels[j] == -100 "dropped"; unscored positions are context. "scores" may be
// absent from every line (then only targets and context are known); "labels" defaults to
// input_ids. Blank lines are skipped but counted; every error is one line naming the file,
// the line and the field.
//
// The file is streamed: totals, the kinds table and the histogram cover every line, and only
// the first `max_examples` examples are kept in memory. Scores go into a fixed-size
// reservoir sample (the robust colour scale and histogram range come from it); when a file
// has more scores than the reservoir holds, a second pass counts the histogram exactly.
// The page is written through AtomicFile, after all input has been read and checked, so a
// bad input leaves no output file behind.
#include <filesystem>
#include <string>
#include <system_error>

#include "tokclean/core/error.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/report/options.hpp"     // ReportToken, HtmlReportOptions, HtmlReportSummary
#include "tokclean/io/report/page.hpp"
#include "tokclean/io/report/statistics.hpp"

namespace tokclean {

// Reads `data` (and `kinds`, a JSONL with {"kinds": "PPBI..."} per line, aligned line by line
// with the data; empty path: none), checks every line, and writes the page to `out`. Nothing
// is written unless every line is good.
inline HtmlReportSummary write_html_report(const std::filesystem::path& data, const std::filesystem::path& out,
                                           const HtmlReportOptions& opt, const std::filesystem::path& kinds = {}) {
    if (opt.bins < 1) fail("html report: bins must be >= 1, got ", opt.bins);
    std::error_code ec;
    if (std::filesystem::equivalent(data, out, ec)) fail(out.string(), ": is the data file; choose another --out");
    if (!kinds.empty() && std::filesystem::equivalent(kinds, out, ec))
        fail(out.string(), ": is the kinds file; choose another --out");
    const detail::report::Scan sc = detail::report::scan(data, kinds, opt);
    const std::string html = detail::report::page(sc, data, kinds, opt);
    AtomicFile file(out);
    file.write(html);
    file.commit();
    return sc.summary;
}

}  // namespace tokclean
