#pragma once
// Token kinds (the optional kinds file: one letter per token, e.g. "PPBI..."): their names,
// their CSS classes, and the counts the page shows per kind.
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tokclean::detail::report {

inline std::string_view kind_name(std::string_view k) {
    if (k == "P") return "prompt";
    if (k == "B") return "boilerplate";
    if (k == "I") return "informative";
    if (k == "J") return "junk";
    if (k == "W") return "wrong answer";
    if (k == "E") return "end of sequence";
    return {};
}

inline std::string kind_class(std::string_view k) {
    return kind_name(k).empty() ? "kX" : "k" + std::string(k);
}

struct KindStats {
    std::int64_t tokens = 0, targets = 0, scored = 0, kept = 0, dropped = 0;
    double score_sum = 0.0;
};

// Known kinds in legend order, then the others in code-point order.
inline std::vector<std::string> kinds_in_order(const std::map<std::string, KindStats>& m) {
    std::vector<std::string> out;
    for (const char* k : {"P", "B", "I", "J", "W", "E"})
        if (m.count(k)) out.push_back(k);
    for (const auto& [k, _] : m)
        if (kind_name(k).empty()) out.push_back(k);
    return out;
}

}  // namespace tokclean::detail::report
