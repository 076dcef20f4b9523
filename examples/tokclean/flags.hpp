#pragma once
// How a verb declares its flags: once, beside its settings struct, as
//
//   struct TrainFlags {
//       ...
//       template <class Self, class V> static void each_flag(Self& f, V& v) {
//           v.option("--lr", f.options.lr, "peak learning rate", finite_at_least(0), Resume::match);
//           v.flag("--strict", f.strict, "reject over-long examples", Resume::match);
//           v.exclusive("--epochs", "--steps");
//       }
//   };
//
// The same list registers the flags with CLI11 (FlagRegistrar: help, checks, defaults) and
// yields the settings a resumable run records (resume_settings: every flag marked Resume),
// so a new flag is one line, and a checkpoint can never forget a flag that changes the run.
// A value a check refuses is a command-line error (exit status 2) naming the flag.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tokclean/io/file_hash.hpp"

namespace tokclean::cli {

// ---- checks of a flag's value (CLI11 validators) ------------------------------------------

namespace flag_detail {
inline bool parse_number(const std::string& s, double& x) {
    char* end = nullptr;
    x = std::strtod(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
}
}  // namespace flag_detail

// A finite number in [lo, hi] (NaN and inf are refused, as no setting can use them).
inline CLI::Validator finite_in(double lo, double hi, const std::string& what) {
    return CLI::Validator(
        [=](std::string& s) -> std::string {
            double x = 0.0;
            if (!flag_detail::parse_number(s, x)) return "expected a number, got '" + s + "'";
            if (!std::isfinite(x) || x < lo || x > hi) return "expected " + what + ", got " + s;
            return {};
        },
        what);
}
inline CLI::Validator finite_at_least(double lo) {
    return finite_in(lo, HUGE_VAL, "a finite number >= " + CLI::detail::to_string(lo));
}
inline CLI::Validator finite_number() { return finite_in(-HUGE_VAL, HUGE_VAL, "a finite number"); }
inline CLI::Validator fraction() { return finite_in(0.0, 1.0, "a fraction in [0, 1]"); }
// An integer >= lo (checked on the text, before CLI11 converts it, so -1 never wraps).
inline CLI::Validator integer_at_least(long long lo) {
    return CLI::Validator(
        [=](std::string& s) -> std::string {
            char* end = nullptr;
            errno = 0;
            const long long x = std::strtoll(s.c_str(), &end, 10);
            if (s.empty() || end != s.c_str() + s.size()) return "expected an integer, got '" + s + "'";
            if (errno == ERANGE) return "expected an integer, got " + s + " (too large)";
            if (x < lo) return "expected an integer >= " + std::to_string(lo) + ", got " + s;
            return {};
        },
        "integer >= " + std::to_string(lo));
}
inline CLI::Validator positive_integer() { return integer_at_least(1); }
inline CLI::Validator non_negative_integer() { return integer_at_least(0); }
// One of the listed words.
inline CLI::Validator one_of(std::vector<std::string> words) {
    std::string list;
    for (const auto& w : words) list += (list.empty() ? "" : "|") + w;
    return CLI::Validator(
        [=](std::string& s) -> std::string {
            for (const auto& w : words)
                if (s == w) return {};
            return "expected " + list + ", got '" + s + "'";
        },
        list);
}

// ---- what a resumed run must share with the run it continues --------------------------------

struct Resume {
    enum class Kind { ignore, match, model_files, content_hash };
    Kind kind = Kind::ignore;
    const std::uint64_t* hash = nullptr;  // content_hash: the fingerprint of what was read

    static constexpr Kind ignore = Kind::ignore;
    static constexpr Kind match = Kind::match;              // the value itself
    static constexpr Kind model_files = Kind::model_files;  // a model directory: its files' hash
    // An input read once (it may be a pipe): the hash taken while reading it.
    static Resume content(const std::uint64_t& h) { return {Kind::content_hash, &h}; }
    Resume() = default;
    Resume(Kind k, const std::uint64_t* h = nullptr) : kind(k), hash(h) {}  // NOLINT: Resume::match
};

inline constexpr struct Required {} required{};

// What a verb's --help says besides its flags: its name, one line, and a footer (an example,
// what is written where).
struct VerbHelp {
    const char* name;
    const char* summary;
    const char* footer = "";
};

// ---- the two visitors --------------------------------------------------------------------
// A flag is declared as v.option(name, value, help, modifiers...) or v.flag(name, bool, help,
// modifiers...); a modifier is a check (CLI::Validator), `required`, or a Resume kind.

// Registers each flag with CLI11.
class FlagRegistrar {
public:
    explicit FlagRegistrar(CLI::App* cmd) : cmd_(cmd) {}

    template <class T, class... Mods>
    CLI::Option* option(const std::string& name, T& value, const std::string& help, const Mods&... mods) {
        CLI::Option* o = cmd_->add_option(name, value, help);
        if (!is_empty(value)) o->capture_default_str();
        (apply(o, mods), ...);
        return o;
    }
    template <class... Mods>
    CLI::Option* flag(const std::string& name, bool& value, const std::string& help, const Mods&... mods) {
        CLI::Option* o = cmd_->add_flag(name, value, help);
        (apply(o, mods), ...);
        return o;
    }
    // The two flags cannot be given together.
    void exclusive(const std::string& a, const std::string& b) { cmd_->get_option(a)->excludes(cmd_->get_option(b)); }

private:
    static void apply(CLI::Option* o, const CLI::Validator& check) { o->check(check); }
    static void apply(CLI::Option* o, Required) { o->required(); }
    static void apply(CLI::Option*, const Resume&) {}
    static void apply(CLI::Option*, Resume::Kind) {}
    template <class T>
    static bool is_empty(const T& v) {
        if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::filesystem::path>) return v.empty();
        else return false;
    }
    CLI::App* cmd_;
};

// Collects the settings a resumable run records: {"--lr": 0.001, "--model": "<hash>", ...}.
class SettingsCollector {
public:
    using ModelHash = std::string (*)(const std::filesystem::path&);
    explicit SettingsCollector(ModelHash model_hash) : model_hash_(model_hash) {}

    template <class T, class... Mods>
    void option(const std::string& name, const T& value, const std::string&, const Mods&... mods) {
        Resume r;
        (pick(r, mods), ...);
        switch (r.kind) {
            case Resume::Kind::ignore: return;
            case Resume::Kind::match:
                if constexpr (std::is_same_v<T, std::filesystem::path>) settings_[name] = value.string();
                else settings_[name] = value;
                return;
            case Resume::Kind::model_files:
                if constexpr (std::is_same_v<T, std::filesystem::path>)
                    settings_[name] = value.empty() ? std::string() : model_hash_(value);
                return;
            case Resume::Kind::content_hash: settings_[name] = hex64(*r.hash); return;
        }
    }
    template <class... Mods>
    void flag(const std::string& name, const bool& value, const std::string& help, const Mods&... mods) {
        option(name, value, help, mods...);
    }
    void exclusive(const std::string&, const std::string&) {}

    nlohmann::json settings() && { return std::move(settings_); }

private:
    static void pick(Resume& r, const Resume& x) { r = x; }
    static void pick(Resume& r, Resume::Kind k) { r = Resume(k); }
    template <class X>
    static void pick(Resume&, const X&) {}
    ModelHash model_hash_;
    nlohmann::json settings_ = nlohmann::json::object();
};

// Registers every flag of a verb's settings struct F on `cmd`.
template <class F>
void add_flags(CLI::App* cmd, F& f) {
    FlagRegistrar r(cmd);
    F::each_flag(f, r);
}

}  // namespace tokclean::cli
