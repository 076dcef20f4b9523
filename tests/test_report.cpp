// `tokclean report`: the HTML page of a cleaned file. What the page must say (totals, the
// threshold, kept/dropped/context classes, kinds), that nothing from the data reaches it
// unescaped, and that bad input fails with one line naming the file, line and field and
// leaves no output file behind.
#define BOOST_TEST_MODULE report
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "../examples/tokclean/cmd_report.hpp"
#include "tokclean/io/html_report.hpp"

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tokclean;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

using Scratch = test_support::TempDir;

std::size_t occurrences(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Token spans: <span class="ROLE ..." title=...>. Counts the spans whose first class is `role`.
std::size_t token_spans(const std::string& page, const std::string& role) {
    const auto start = page.find("<h2>Examples</h2>");
    BOOST_REQUIRE(start != std::string::npos);
    const std::string examples = page.substr(start);
    return occurrences(examples, "<span class=\"" + role + " ") + occurrences(examples, "<span class=\"" + role + "\"");
}

// The page with the byte tokenizer default, from `lines`.
struct Page {
    HtmlReportSummary summary;
    std::string html;
};
Page report(const Scratch& s, const std::string& lines, HtmlReportOptions o = {}, const std::string& kinds = "") {
    write(s / "c.jsonl", lines);
    if (!kinds.empty()) write(s / "k.jsonl", kinds);
    Page p;
    p.summary = write_html_report(s / "c.jsonl", s / "r.html", o, kinds.empty() ? fs::path() : s / "k.jsonl");
    p.html = slurp(s / "r.html");
    return p;
}

// Runs `f`, expects an Error containing every needle on one line, and no output left behind.
template <class F>
void expect_failure(F f, std::initializer_list<std::string> needles, const fs::path& out) {
    std::string what;
    try {
        f();
    } catch (const Error& e) {
        what = e.what();
    }
    BOOST_TEST_REQUIRE(!what.empty(), "no error thrown");
    BOOST_TEST(what.find('\n') == std::string::npos, "not one line: " << what);
    for (const auto& n : needles) BOOST_TEST(what.find(n) != std::string::npos, "'" << n << "' not in: " << what);
    BOOST_TEST(!fs::exists(out));
    for (const auto& e : fs::directory_iterator(out.parent_path()))
        BOOST_TEST(e.path().filename().string().find(out.filename().string()) == std::string::npos,
                   "left behind: " << e.path());
}

// Three examples: 3 context tokens, then scored targets; kept where labels != -100.
const std::string three_lines =
    "{\"input_ids\": [72, 105, 33, 65, 66, 67], \"labels\": [-100, -100, -100, 65, -100, 67], "
    "\"scores\": [null, null, null, 0.5, -0.25, 0.75]}\n"
    "\n"  // blank lines are skipped but counted
    "{\"input_ids\": [1, 2, 3, 4], \"labels\": [-100, 2, -100, 4], \"scores\": [null, 0.25, 0.1, 1.5]}\n"
    "{\"input_ids\": [10, 11, 12], \"labels\": [-100, -100, 12], \"scores\": [null, -2, 3]}\n";

}  // namespace

BOOST_AUTO_TEST_CASE(escapes_a_malicious_token) {
    Scratch s;
    HtmlReportOptions o;
    o.token_text = [](std::int32_t id) -> ReportToken {
        if (id == 1) return {"<script>alert('x')</script>", false};
        if (id == 2) return {"\" onmouseover=\"alert(1)", false};
        if (id == 3) return {"a\xff\xfe\nb&c", false};  // not UTF-8, a newline, an ampersand
        return {"<iframe>", true};
    };
    o.tokenizer_label = "<img src=x>";
    const Page p = report(s,
                          "{\"input_ids\": [1, 2, 3, 4], \"labels\": [-100, 2, -100, 4], "
                          "\"scores\": [null, 0.5, -1, 2]}\n",
                          o, "{\"kinds\": \"P<\\\"E\"}\n");
    BOOST_TEST(lower(p.html).find("<script") == std::string::npos);
    BOOST_TEST(p.html.find("<img") == std::string::npos);
    BOOST_TEST(p.html.find("<iframe") == std::string::npos);
    BOOST_TEST(p.html.find("onmouseover=\"") == std::string::npos);
    BOOST_TEST(p.html.find(">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</span>") != std::string::npos);
    BOOST_TEST(p.html.find("&quot; onmouseover=&quot;alert(1)") != std::string::npos);
    BOOST_TEST(p.html.find("&lt;img src=x&gt;") != std::string::npos);
    // Bytes that are not UTF-8 become \xNN, the newline a visible mark and a line break.
    BOOST_TEST(p.html.find("a<i>\\xFF</i><i>\\xFE</i><i>\xE2\x86\xB5</i>\nb&amp;c</span>") != std::string::npos);
    BOOST_TEST(p.html.find("\xff") == std::string::npos);
    // Kind letters are data too.
    BOOST_TEST(p.html.find("<span class=\"kind kX\">&lt;</span>") != std::string::npos);
    BOOST_TEST(p.html.find("<span class=\"kind kX\">&quot;</span>") != std::string::npos);
    // No external resource of any kind.
    BOOST_TEST(p.html.find("http://") == std::string::npos);
    BOOST_TEST(p.html.find("https://") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(visible_text_of_bytes) {
    using detail::report::visible_text;
    BOOST_TEST(visible_text("caf\xc3\xa9") == "caf\xc3\xa9");          // UTF-8 stays
    BOOST_TEST(visible_text("\xc3") == "\\xC3");                      // half a character
    BOOST_TEST(visible_text("\xe2\x80\xae") == "\\u202E");            // a bidi override
    BOOST_TEST(visible_text("\xc0\xaf") == "\\xC0\\xAF");             // overlong '/'
    BOOST_TEST(visible_text("\x01\t\r") == "\\x01\xE2\x87\xA5\\r");
    BOOST_TEST(detail::report::html_escaped("<a href='x'>&\"") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
}

BOOST_AUTO_TEST_CASE(kept_dropped_and_context_classes) {
    Scratch s;
    const Page p = report(s, three_lines);
    // kept: 65, 67 | 2, 4 | 12 -> 5; dropped: 66 | 3 | 11 -> 3; context: 3 + 1 + 1 = 5.
    BOOST_TEST(token_spans(p.html, "k") == 5u);
    BOOST_TEST(token_spans(p.html, "d") == 3u);
    BOOST_TEST(token_spans(p.html, "c") == 5u);
    BOOST_TEST(token_spans(p.html, "t") == 0u);
    // The dropped -0.25 is coloured low, the kept 3 (top of the scale) high; context uncoloured.
    BOOST_TEST(p.html.find("<span class=\"d n") != std::string::npos);
    BOOST_TEST(p.html.find("<span class=\"k p12\"") != std::string::npos);
    BOOST_TEST(p.html.find("<span class=\"c\" title=\"#0  id 72  \xE2\x80\x9CH\xE2\x80\x9D&#10;context\">H</span>") !=
               std::string::npos);
    // The tooltip names the position, id, text, score and role.
    BOOST_TEST(p.html.find("title=\"#4  id 66  \xE2\x80\x9C" "B\xE2\x80\x9D&#10;score \xE2\x88\x92" "0.25 \xC2\xB7 dropped\"") !=
               std::string::npos);
    // Struck through, context grey: the CSS says so.
    BOOST_TEST(p.html.find(".d{text-decoration:line-through") != std::string::npos);
    BOOST_TEST(p.html.find("<svg") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(totals_and_threshold) {
    Scratch s;
    const Page p = report(s, three_lines);
    const HtmlReportSummary& r = p.summary;
    BOOST_TEST(r.examples == 3u);
    BOOST_TEST(r.tokens == 13);
    BOOST_TEST(r.scored == 8);
    BOOST_TEST(r.kept == 5);
    BOOST_TEST(r.dropped == 3);
    BOOST_TEST(r.has_scores);
    BOOST_TEST_REQUIRE(r.threshold.has_value());
    BOOST_TEST(*r.threshold == 0.25);  // the smallest kept score
    BOOST_TEST(*r.max_dropped == 0.1);
    BOOST_TEST(r.dropped_above_threshold == 0);
    BOOST_TEST(r.dropped_at_threshold == 0);
    BOOST_TEST(p.html.find("data-examples=\"3\" data-tokens=\"13\" data-scored=\"8\" data-kept=\"5\" "
                           "data-dropped=\"3\" data-threshold=\"0.25\"") != std::string::npos);
    BOOST_TEST(p.html.find("<span>kept fraction</span><b>62.5%</b>") != std::string::npos);
    BOOST_TEST(p.html.find("threshold \xCF\x84 = 0.25 (smallest kept score)") != std::string::npos);
    BOOST_TEST(p.html.find("Example 3<small>line 4 ") != std::string::npos);  // blank line counted
    // Histogram bars: every score counted once.
    const std::regex bar("(\\d+) kept, (\\d+) dropped</title>");
    std::int64_t kept = 0, dropped = 0, bars = 0;
    for (auto it = std::sregex_iterator(p.html.begin(), p.html.end(), bar); it != std::sregex_iterator(); ++it) {
        ++bars;
        kept += std::stoll((*it)[1]);
        dropped += std::stoll((*it)[2]);
    }
    BOOST_TEST(bars > 0);
    BOOST_TEST(kept == 5);
    BOOST_TEST(dropped == 3);
}

BOOST_AUTO_TEST_CASE(overlapping_selection_is_noted) {
    Scratch s;
    // Per-example selection: the dropped 0.9 is above the smallest kept score 0.2.
    const Page p = report(s,
                          "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 2, -100], \"scores\": [null, 0.2, 0.1]}\n"
                          "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 2, -100], \"scores\": [null, 5, 0.9]}\n");
    BOOST_TEST(*p.summary.threshold == 0.2);
    BOOST_TEST(p.summary.dropped_above_threshold == 1);
    BOOST_TEST(p.html.find("not a single global cut") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ties_at_the_threshold_are_not_an_overlap) {
    Scratch s;
    // Global top-1 of two equal scores keeps the earlier one.
    const Page p = report(s,
                          "{\"input_ids\": [1, 2], \"labels\": [-100, 2], \"scores\": [null, 0.5]}\n"
                          "{\"input_ids\": [1, 2], \"labels\": [-100, -100], \"scores\": [null, 0.5]}\n");
    BOOST_TEST(p.summary.dropped_above_threshold == 0);
    BOOST_TEST(p.summary.dropped_at_threshold == 1);
    BOOST_TEST(p.html.find("not a single global cut") == std::string::npos);
    BOOST_TEST(p.html.find("1 dropped score equals") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(many_examples_stream_and_two_passes_agree) {
    Scratch s;
    std::string lines;
    for (int i = 0; i < 30; ++i)
        lines += "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 2, " + std::string(i % 3 ? "3" : "-100") +
                 "], \"scores\": [null, " + std::to_string(i * 0.1 - 1) + ", " + std::to_string(i % 7) + "]}\n";
    HtmlReportOptions one;
    one.max_examples = 2;
    const Page a = report(s, lines, one);
    HtmlReportOptions two = one;
    two.sample_capacity = 5;  // fewer than the 60 scores: a second pass counts the histogram
    const Page b = report(s, lines, two);
    BOOST_TEST(a.summary.examples == 30u);
    BOOST_TEST(a.summary.rendered == 2u);
    BOOST_TEST(a.summary.scored == 60);
    BOOST_TEST(occurrences(a.html, "<section class=\"ex\">") == 2u);
    BOOST_TEST(a.html.find("cover all 30 examples; the first 2 are shown") != std::string::npos);
    const std::regex tip("<title>[^<]*</title>");
    std::vector<std::string> ta, tb;
    for (auto it = std::sregex_iterator(a.html.begin(), a.html.end(), tip); it != std::sregex_iterator(); ++it)
        ta.push_back(it->str());
    for (auto it = std::sregex_iterator(b.html.begin(), b.html.end(), tip); it != std::sregex_iterator(); ++it)
        tb.push_back(it->str());
    BOOST_TEST(ta.size() > 0u);
    BOOST_TEST(ta == tb, boost::test_tools::per_element());
    BOOST_TEST(b.html.find("colour scale from a sample of 5") != std::string::npos);
    HtmlReportOptions none;
    none.max_examples = 0;
    const Page c = report(s, lines, none);
    BOOST_TEST(occurrences(c.html, "<section class=\"ex\">") == 0u);
    BOOST_TEST(c.summary.kept == a.summary.kept);
}

BOOST_AUTO_TEST_CASE(without_scores_shows_targets_and_context) {
    Scratch s;
    const Page p = report(s,
                          "{\"input_ids\": [72, 105, 33, 65], \"labels\": [-100, -100, 33, 65]}\n"
                          "{\"input_ids\": [256, 66]}\n");  // labels default to input_ids; 256 is no byte
    BOOST_TEST(!p.summary.has_scores);
    BOOST_TEST(p.summary.scored == 0);
    BOOST_TEST(p.summary.targets == 3);  // position 0 is never a target
    BOOST_TEST(token_spans(p.html, "t") == 3u);
    BOOST_TEST(token_spans(p.html, "c") == 3u);
    BOOST_TEST(token_spans(p.html, "k") == 0u);
    BOOST_TEST(p.html.find("has no <code>\"scores\"</code>") != std::string::npos);
    BOOST_TEST(p.html.find("<svg") == std::string::npos);
    BOOST_TEST(p.html.find(">\xE2\x9F\xA8" "256\xE2\x9F\xA9</span>") != std::string::npos);  // ⟨256⟩
}

BOOST_AUTO_TEST_CASE(kinds_table_and_underlines) {
    Scratch s;
    const Page p = report(s, three_lines, {},
                          "{\"kinds\": \"PPPIJI\"}\n\n{\"kinds\": \"PIJE\"}\n{\"kinds\": \"PJ\xc3\x9c\"}\n");
    // I: 65, 67, 2 all kept; J: 66 dropped, 3 dropped, 11 dropped; E: 4 kept; Ü: 12 kept.
    BOOST_TEST(p.html.find("<td><span class=\"kind kI\">I</span></td><td>informative</td><td>3</td><td>3</td><td>3</td>"
                           "<td>0</td>") != std::string::npos);
    BOOST_TEST(p.html.find("<td><span class=\"kind kJ\">J</span></td><td>junk</td><td>3</td><td>3</td><td>0</td>"
                           "<td>3</td>") != std::string::npos);
    BOOST_TEST(p.html.find("<span class=\"kind kX\">\xc3\x9c</span></td><td>(unknown)</td>") != std::string::npos);
    BOOST_TEST(p.html.find("<span class=\"k p") != std::string::npos);
    BOOST_TEST(p.html.find(" kI\" title=") != std::string::npos);
    BOOST_TEST(p.html.find("kind J (junk)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(model_tokenizer_decodes_each_token) {
    Scratch s;
    fs::create_directories(s / "byte_model");
    write(s / "byte_model" / "config.json",
          R"({"model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": 8, "vocab_size": 257, "n_positions": 16,)"
          R"( "tokclean_tokenizer": "byte", "eos_token_id": 256})");
    write(s / "c.jsonl", "{\"input_ids\": [60, 195, 169, 256], \"labels\": [-100, 195, 169, 256], "
                         "\"scores\": [null, 1, 2, 3]}\n");
    cli::ReportFlags f;
    f.data = s / "c.jsonl";
    f.out = s / "r.html";
    f.model = s / "byte_model";
    cli::run_report(cli::GlobalFlags{true, 0}, f);
    const std::string html = slurp(f.out);
    BOOST_TEST(html.find("\">&lt;</span>") != std::string::npos);
    BOOST_TEST(html.find("\"><i>\\xC3</i></span>") != std::string::npos);  // half of é, on its own
    BOOST_TEST(html.find(" sp\" title=") != std::string::npos);             // EOS is special
    BOOST_TEST(html.find(">&lt;|endoftext|&gt;</span>") != std::string::npos);

    // A model without a tokenizer: ids, and the model's vocabulary bounds them.
    f.model = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny" / "model";
    write(s / "c.jsonl", "{\"input_ids\": [5, 96], \"labels\": [-100, 96], \"scores\": [null, 1]}\n");
    cli::run_report(cli::GlobalFlags{true, 0}, f);
    BOOST_TEST(slurp(f.out).find(">\xE2\x9F\xA8" "96\xE2\x9F\xA9</span>") != std::string::npos);
    fs::remove(f.out);
    write(s / "c.jsonl", "{\"input_ids\": [5, 97], \"labels\": [-100, 97], \"scores\": [null, 1]}\n");
    expect_failure([&] { cli::run_report(cli::GlobalFlags{true, 0}, f); },
                   {"c.jsonl:1: field 'input_ids'[1]: token id 97 is >= vocab_size 97"}, f.out);
    // (--max-examples -1 is refused by the command line: bad_inputs/flag_rows [F22].)
}

BOOST_AUTO_TEST_CASE(bad_input_fails_with_file_line_and_field) {
    Scratch s;
    const fs::path data = s / "cleaned.jsonl", out = s / "report.html", kinds = s / "kinds.jsonl";
    const std::string good = "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 2, -100], \"scores\": [null, 1, 0]}\n";
    const auto run = [&] { write_html_report(data, out, HtmlReportOptions{}); };
    struct Case {
        std::string text, needle;
    };
    const std::vector<Case> cases = {
        {good + good + "{\"input_ids\": [1,2,3,4,5,6,7,8,9,10,11,12], \"scores\": [null,1,1,1,1,1,1,1,1,1,1]}\n",
         "cleaned.jsonl:3: field 'scores': expected 12 entries (one per input id), got 11"},
        {"{\"input_ids\": [1, 2], \"labels\": [2]}\n", "cleaned.jsonl:1: field 'labels': expected 2 entries (one per input id), got 1"},
        {good + "{\"input_ids\": [1, 2\n", "cleaned.jsonl:2: not valid JSON at column"},
        {"[1, 2]\n", "cleaned.jsonl:1: expected a JSON object, got an array"},
        {"{\"labels\": [1]}\n", "cleaned.jsonl:1: missing required field 'input_ids'"},
        {"{\"input_ids\": [1, \"x\"]}\n", "cleaned.jsonl:1: field 'input_ids'[1]: expected an integer"},
        {"{\"input_ids\": [1, -3]}\n", "cleaned.jsonl:1: field 'input_ids'[1]: expected a token id, got -3"},
        {"{\"input_ids\": [1, 2], \"labels\": [-100, -5]}\n", "cleaned.jsonl:1: field 'labels'[1]: expected a token id or -100, got -5"},
        {"{\"input_ids\": []}\n", "cleaned.jsonl:1: field 'input_ids': empty sequence"},
        {"{\"input_ids\": [1, 2], \"scores\": [null, \"x\"]}\n", "cleaned.jsonl:1: field 'scores'[1]: expected a number or null"},
        {"{\"input_ids\": [1, 2], \"scores\": {\"a\": 1}}\n", "cleaned.jsonl:1: field 'scores': expected an array"},
        {"{\"input_ids\": [1, 2], \"scores\": [null, 1e999]}\n", "cleaned.jsonl:1: not valid JSON"},
        {good + "\n{\"input_ids\": [1, 2]}\n", "cleaned.jsonl:3: field 'scores': missing, but line 1 has it"},
        {"{\"input_ids\": [1, 2]}\n" + good, "cleaned.jsonl:2: field 'scores': present, but line 1 has none"},
        {"\n  \n", "cleaned.jsonl: no examples"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.needle) {
            write(data, c.text);
            expect_failure(run, {c.needle}, out);
        }
    }
    fs::remove(data);
    expect_failure(run, {"cleaned.jsonl: cannot open the file"}, out);

    // Kinds: aligned line by line, one character per token.
    write(data, good + good);
    const auto run_kinds = [&] { write_html_report(data, out, HtmlReportOptions{}, kinds); };
    const std::vector<Case> kind_cases = {
        {"{\"kinds\": \"PIJ\"}\n{\"kinds\": \"PI\"}\n", "kinds.jsonl:2: field 'kinds': expected 3 characters (one per input id), got 2"},
        {"{\"kinds\": \"PIJ\"}\n", "kinds.jsonl: has fewer lines than"},
        {"{\"kinds\": \"PIJ\"}\n{\"kinds\": \"PIJ\"}\n{\"kinds\": \"PIJ\"}\n", "kinds.jsonl:3: more lines than"},
        {"{\"kinds\": [1, 2, 3]}\n{\"kinds\": \"PIJ\"}\n", "kinds.jsonl:1: field 'kinds': expected a string"},
        {"{\"kind\": \"PIJ\"}\n", "kinds.jsonl:1: missing required field 'kinds'"},
    };
    for (const auto& c : kind_cases) {
        BOOST_TEST_CONTEXT(c.needle) {
            write(kinds, c.text);
            expect_failure(run_kinds, {c.needle}, out);
        }
    }

    // A failed run leaves an existing page as it was.
    write(out, "old page");
    write(data, "{\"input_ids\": [1, 2], \"labels\": [2]}\n");
    BOOST_CHECK_THROW(run(), Error);
    BOOST_TEST(slurp(out) == "old page");
}
