// Fuzz target: the chat-template engine (jinja::Template). Input: a Jinja template, then a 0xff
// byte (never part of UTF-8 text) and the JSON array of messages (no 0xff: a fixed
// conversation; not JSON: the input is skipped, the JSON parser is not under test).
// A template that parses renders with {messages, add_generation_prompt (false, then true),
// bos_token, eos_token} at a fixed strftime_now clock. Errors (syntax, unsupported constructs,
// runtime errors, raise_exception) are one line naming the template.
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "tokclean/data/chat/jinja.hpp"

using namespace tokclean;

namespace {

// Real chat templates are under 8 KB; the cap keeps each run short (the engine has no limit
// on loop counts or output size of its own, like jinja2's sandbox).
constexpr std::size_t max_input = 16 * 1024;

const nlohmann::ordered_json& fixed_messages() {
    static const auto m = nlohmann::ordered_json::parse(R"([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "caf\u00e9 {{ x }} \ud83d\ude00"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": ""}])");
    return m;
}

jinja::RenderOptions fixed_clock() {
    std::tm tm{};  // Friday 2025-03-07 15:04:05
    tm.tm_year = 125;
    tm.tm_mon = 2;
    tm.tm_mday = 7;
    tm.tm_hour = 15;
    tm.tm_min = 4;
    tm.tm_sec = 5;
    tm.tm_wday = 5;
    tm.tm_yday = 65;
    return jinja::RenderOptions{tm};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_input) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t sep = in.find('\xff');
    nlohmann::ordered_json messages = fixed_messages();
    if (sep != std::string_view::npos) {
        messages = nlohmann::ordered_json::parse(in.substr(sep + 1), nullptr, false);
        if (messages.is_discarded()) return 0;
    }
    static const jinja::RenderOptions clock = fixed_clock();
    try {
        const jinja::Template t(in.substr(0, sep), "fuzz/chat_template");
        for (const bool add_generation_prompt : {false, true}) {
            nlohmann::ordered_json vars = nlohmann::ordered_json::object();
            vars["messages"] = messages;
            vars["add_generation_prompt"] = add_generation_prompt;
            vars["bos_token"] = "<s>";
            vars["eos_token"] = "</s>";
            (void)t.render(vars, clock);
        }
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz/chat_template");
    }
    return 0;
}
