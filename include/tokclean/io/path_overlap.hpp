#pragma once
// Whether two paths name the same file, or one lies inside the other: an output that is an
// input (or holds one, or lies inside one) would write over it or delete it. Paths are
// compared after resolving symlinks, "." and ".." as far as they exist
// (std::filesystem::weakly_canonical), and existing files also by identity
// (std::filesystem::equivalent, which catches hard links).
#include <filesystem>
#include <system_error>

namespace tokclean {

namespace detail {
inline std::filesystem::path resolved(const std::filesystem::path& p) {
    std::error_code ec;
    auto r = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
    if (ec) r = std::filesystem::absolute(p, ec).lexically_normal();
    if (r.filename().empty()) r = r.parent_path();  // "dir/" -> "dir"
    return r;
}
}  // namespace detail

// `inner` lies strictly inside the directory `outer`.
inline bool path_is_inside(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    const auto a = detail::resolved(inner), b = detail::resolved(outer);
    auto ia = a.begin();
    for (auto ib = b.begin(); ib != b.end(); ++ib, ++ia)
        if (ia == a.end() || *ia != *ib) return false;
    return ia != a.end();
}

// `a` and `b` are the same file or directory.
inline bool same_path(const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code ec;
    if (std::filesystem::equivalent(a, b, ec)) return true;
    return detail::resolved(a) == detail::resolved(b);
}

}  // namespace tokclean
