// The chat-template engine (data/chat/jinja.hpp): every vector of tests/data/chat_templates
// (rendered by jinja2 configured as transformers' apply_chat_template, made by
// tests/python/make_chat_template_vectors.py) renders byte for byte, and raise_exception cases
// throw its message; the tricky semantics one by one, with jinja2's own outputs as expectations;
// errors name the template's line and column.
#define BOOST_TEST_MODULE jinja
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "tokclean/data/chat/jinja.hpp"

using tokclean::jinja::RenderOptions;
using tokclean::jinja::Template;
using nlohmann::ordered_json;

namespace {

const std::string dir = std::string(TOKCLEAN_TEST_DATA) + "/chat_templates";

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(f, "cannot open " << path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// "2025-03-07T15:04:05" as the broken-down time strftime_now formats.
RenderOptions at(const std::string& iso) {
    std::tm tm{};
    BOOST_REQUIRE(std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                              &tm.tm_min, &tm.tm_sec) == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return RenderOptions{tm};
}

std::string render(const std::string& src, const std::string& vars = "{}") {
    return Template(src).render(ordered_json::parse(vars));
}

}  // namespace

BOOST_AUTO_TEST_CASE(vectors_render_byte_identically) {
    std::ifstream in(dir + "/vectors.jsonl");
    BOOST_REQUIRE(in);
    std::map<std::string, std::unique_ptr<Template>> templates;
    std::map<std::string, int> rendered, raised;
    std::string line;
    int index = 0, failures = 0;
    for (; std::getline(in, line); ++index) {
        const auto c = ordered_json::parse(line);
        const std::string name = c.at("template");
        auto& t = templates[name];
        if (!t) t = std::make_unique<Template>(read_file(dir + "/" + name + ".jinja"), name);
        const RenderOptions opt = at(c.at("now"));
        if (c.contains("error")) {
            const std::string want = c.at("error");
            try {
                const std::string got = t->render(c.at("variables"), opt);
                if (failures++ < 3) BOOST_ERROR("case " << index << " (" << name << "): no error, expected '" << want << "'");
            } catch (const tokclean::Error& e) {
                const std::string msg = e.what();
                if (msg.find(want) == std::string::npos && failures++ < 3)
                    BOOST_ERROR("case " << index << " (" << name << "): error '" << msg << "' lacks '" << want << "'");
                if (msg.rfind(name + ":", 0) != 0 && failures++ < 3)
                    BOOST_ERROR("case " << index << ": error '" << msg << "' does not start with the template's name");
            }
            ++raised[name];
            continue;
        }
        const std::string want = c.at("rendered");
        std::string got;
        try {
            got = t->render(c.at("variables"), opt);
        } catch (const tokclean::Error& e) {
            if (failures++ < 3) BOOST_ERROR("case " << index << " (" << name << "): threw " << e.what());
            continue;
        }
        if (got != want) {
            std::size_t k = 0;
            while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
            const std::size_t from = k > 30 ? k - 30 : 0;
            if (failures++ < 3)
                BOOST_ERROR("case " << index << " (" << name << "): first difference at byte " << k << "\n  got:  "
                                    << ordered_json(got.substr(from, 80)).dump() << "\n  want: "
                                    << ordered_json(want.substr(from, 80)).dump());
        }
        ++rendered[name];
    }
    BOOST_TEST(failures == 0);
    BOOST_TEST(index >= 1200);
    // Every template is covered, and the raising ones both render and raise.
    for (const char* name : {"chatml", "llama3_1", "llama3_1_tools", "llama3_2_strftime", "mistral", "qwen3"})
        BOOST_TEST(rendered[name] >= 150, name << " renders " << rendered[name]);
    for (const char* name : {"llama3_1_tools", "llama3_2_strftime", "mistral"}) BOOST_TEST(raised[name] >= 5, name);
}

// Each expected output was printed by jinja2 3.1 configured as transformers configures it.
struct Case {
    const char* what;
    const char* source;
    const char* vars;
    const char* expected;
};
const Case cases[] = {
    {"lstrip_blocks_and_trim_blocks",
     "  {% if true %}\n  x\n  {% endif %}\n",
     R"({})",
     "  x\n"},
    {"dash_whitespace_control",
     "a  {% if true %}b{% endif %}  \n{{ 1 }}  {{- 2 -}}  \n 3",
     R"({})",
     "a  b  \n123"},
    {"loop_variables",
     "{% for i in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}|{% endfor %}",
     R"({})",
     "10TrueFalse33|21FalseFalse32|32FalseTrue31|"},
    {"namespace_set_in_loop_is_visible_after_it",
     "{% set ns = namespace(n=0) %}{% for i in range_ %}{% set ns.n = ns.n + i %}{% set local = i %}{% endfor %}{{ ns.n }}[{{ local }}]",
     R"({"range_": [1, 2, 3]})",
     "6[]"},
    {"slicing_and_negative_indices",
     "{{ [1,2,3][::-1] }}{{ 'héllo'[::-1] }}{{ 'abc'[-1] }}{{ [1,2,3][-2:] }}{{ 'abcdef'[1:5:2] }}",
     R"({})",
     "[3, 2, 1]olléhc[2, 3]bd"},
    {"undefined_prints_empty_is_false_iterates_empty",
     "[{{ nope }}][{{ nope is defined }}][{{ d.missing is defined }}][{% for x in nope %}x{% endfor %}][{{ nope | length }}][{{ not nope }}]",
     R"({"d": {}})",
     "[][False][False][][0][True]"},
    {"tojson_unicode_nested_indent_separators",
     "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ x | tojson(separators=(',', ':'), sort_keys=true) }}",
     R"({"x": {"z": "日本 \"q\" \n", "a": [1, 2.5, null, true, {}, []], "e": 1e-07}})",
     "{\"z\": \"日本 \\\"q\\\" \\n\", \"a\": [1, 2.5, null, true, {}, []], \"e\": 1e-07}|{\n  \"z\": \"日本 \\\"q\\\" \\n\",\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true,\n    {},\n    []\n  ],\n  \"e\": 1e-07\n}|{\"a\":[1,2.5,null,true,{},[]],\"e\":1e-07,\"z\":\"日本 \\\"q\\\" \\n\"}"},
    {"python_str_of_values",
     "{{ [1, 'a', True, None, 2.0] }}{{ {'k': \"it's\"} }}{{ true }}{{ none }}{{ (1,) }}{{ 1e20 }}{{ 10/4 }}{{ 7//2 }}{{ -7 % 3 }}",
     R"({})",
     "[1, 'a', True, None, 2.0]{'k': \"it's\"}TrueNone(1,)1e+202.532"},
    {"tuple_unpacking_items",
     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}",
     R"({"d": {"b": 1, "a": [2]}})",
     "b=1;a=[2];ba"},
    {"break_continue_and_for_else",
     "{% for i in [1,2,3,4] %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}{% for i in [] %}x{% else %}empty{% endfor %}",
     R"({})",
     "13empty"},
    {"string_methods",
     "{{ ' a b '.split() }}{{ 'a,b,,c'.split(',') }}{{ '\\n x \\n'.strip() }}|{{ 'xxhixx'.strip('x') }}{{ 'Hello World'.upper() }}{{ 'hello world'.title() }}{{ 'aaa'.replace('a', 'b', 2) }}",
     R"({})",
     "['a', 'b']['a', 'b', '', 'c']x|hiHELLO WORLDHello Worldbba"},
    {"operators_concat_in_equality",
     "{{ 'abc' ~ 1 ~ none }}{{ 'x' if false }}|{{ 'a' in 'cat' }}{{ 2 in [1,2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}{{ 1 == 1.0 }}{{ 1 == true }}",
     R"({})",
     "abc1None|TrueTrueTrueTrueTrueTrue"},
    {"filters",
     "{{ [3,1] | first }}{{ [3,1] | last }}{{ 'abc' | list }}{{ ['a','b'] | join('-') }}{{ none | default('d') }}{{ nope | default('d') }}{{ '' | default('e', true) }}{{ '42' | int + 1 }}{{ 'x' | int }}{{ 3.9 | int }}",
     R"({})",
     "31['a', 'b', 'c']a-bNonede4303"},
    {"tests",
     "{{ x is string }}{{ x is mapping }}{{ x is iterable }}{{ x is sequence }}{{ 1 is number }}{{ true is boolean }}{{ false is false }}{{ 0 is false }}{{ 3 is equalto 3 }}{{ 3 is eq(4) }}{{ none is none }}{{ nope is undefined }}",
     R"({"x": "s"})",
     "TrueFalseTrueTrueTrueTrueTrueFalseTrueFalseTrueTrue"},
};

BOOST_AUTO_TEST_CASE(semantics_match_jinja2) {
    for (const Case& c : cases) BOOST_TEST(render(c.source, c.vars) == c.expected, c.what);
}

BOOST_AUTO_TEST_CASE(template_text_is_literal_and_strftime_uses_the_given_time) {
    // Jinja-like text in a variable is data, not template.
    BOOST_TEST(render("{{ m }}", R"({"m": "{{ x }} {% if %}"})") == "{{ x }} {% if %}");
    const Template t(R"({{ strftime_now("%d %b %Y") }}|{{ strftime_now("%A %j") }})");
    BOOST_TEST(t.render(ordered_json::object(), at("2024-07-26T10:00:00")) == "26 Jul 2024|Friday 208");
}

BOOST_AUTO_TEST_CASE(raise_exception_throws_its_message) {
    test_support::expect_error([] { render("a\n  {{ raise_exception('roles must alternate') }}"); },
                               {"chat_template:2:", "roles must alternate"});
}

// Legal templates that would overflow, exhaust memory or the stack stop with an error (the
// fuzz findings of tests/fuzz/corpus/chat_template/finding_*); jinja2's Python has unbounded
// integers and a recursion limit.
BOOST_AUTO_TEST_CASE(runaway_templates_stop_with_an_error) {
    using test_support::expect_error;
    expect_error([] { render("{{ 9223372036854775807 + 1 }}"); }, {"chat_template:1:", "integer overflow"});
    expect_error([] { render("{{ (-9223372036854775807 - 1) // -1 }}"); }, {"integer overflow"});
    expect_error([] { render("{{ 2 ** 99999999999 }}"); }, {"integer overflow"});
    BOOST_TEST(render("{{ 1 ** 999999999999999 }}|{{ 3 ** 4 }}|{{ (-2) ** 63 }}") == "1|81|-9223372036854775808");
    expect_error([] { render("{{ 'ab' * 99999999999 }}"); }, {"repetition of more than"});
    BOOST_TEST(render("{{ 0 * 'ab' * 99999900000 }}|{{ ([] * 99999999999)|length }}|{{ '' * -5 }}") == "|0|");
    expect_error([] { Template("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}"); }, {"nested deeper than 200"});
    expect_error([] { Template("{{ x.99999999999999999999 }}"); }, {"integer literal out of range"});
    expect_error([] { render("{{ raise_exception('a\nb') }}"); }, {"a\\x0ab"});
    // Float literals beyond the double range read as Python's float() reads them.
    BOOST_TEST(render("{{ (-954775801e400) == -1 }}|{{ 1e400 }}|{{ -1e400 }}|{{ 1e-400 }}|{{ 0.0001e-320 }}") ==
               "False|inf|-inf|0.0|0.0");
    // (jinja2 itself fails on 1e400|int: its compiler writes the constant inf as a Python name.)
    BOOST_TEST(render("{{ 2.5e-324 }}|{{ 1e400|int }}|{{ '1e400'|int(7) }}|{{ 1e18|int }}") == "5e-324|0|7|1000000000000000000");
    expect_error([] { render("{{ 1e300|int }}"); }, {"integer overflow"});
    expect_error([] { render("{{ '-1e19'|int }}"); }, {"integer overflow"});
    expect_error([] { render("{{ '99999999999999999999'|int }}"); }, {"integer overflow"});
    expect_error([] { render("{{ -(-9223372036854775807 - 1) }}"); }, {"integer overflow"});
    BOOST_TEST(render("{{ '-9223372036854775808'|int }}|{{ '+0009223372036854775807'|int }}") == "-9223372036854775808|9223372036854775807");
}

BOOST_AUTO_TEST_CASE(errors_name_line_and_column) {
    using test_support::expect_error;
    expect_error([] { Template("x\n{{ a | xyz }}"); }, {"chat_template:2:8: unsupported filter 'xyz'"});
    expect_error([] { Template("{% if a is odd %}{% endif %}"); }, {"chat_template:1:12: unsupported test 'odd'"});
    expect_error([] { Template("ab\n\n  {% macro m() %}{% endmacro %}"); }, {"chat_template:3:6: unsupported statement 'macro'"});
    expect_error([] { Template("{% for x in y %}\n{{ x }}"); }, {"chat_template:1:1: unclosed block 'for'"});
    expect_error([] { Template("{% if x %}{% endfor %}"); }, {"chat_template:1:14: unexpected 'endfor'", "innermost open block is 'if'"});
    expect_error([] { Template("{{ 'abc }}"); }, {"chat_template:1:4: unterminated string"});
    expect_error([] { Template("{{ x "); }, {"chat_template:1:1: unclosed tag"});
    expect_error([] { Template("{# x"); }, {"chat_template:1:1: unclosed comment"});
    expect_error([] { Template("t", "my.jinja").render(ordered_json::array()); }, {"my.jinja"});
    // Runtime errors of jinja2's default Undefined, and methods outside the subset.
    expect_error([] { render("\n {{ nope.attr }}"); }, {"chat_template:2:", "'nope' is undefined"});
    expect_error([] { render("{{ d.x.y }}", R"({"d": {}})"); }, {"'dict object' has no attribute 'x'"});
    expect_error([] { render("{{ nope + 1 }}"); }, {"'nope' is undefined"});
    expect_error([] { render("{{ 'a'.find('a') }}"); }, {"chat_template:1:", "unsupported method 'find'"});
    expect_error([] { render("{{ 'é' | upper }}"); }, {"unsupported: upper of non-ASCII text"});
}
