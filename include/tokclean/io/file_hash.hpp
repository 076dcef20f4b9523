#pragma once
// A fingerprint of a file's bytes (64-bit FNV-1a), to recognise the inputs a resumable run
// was started with. Not cryptographic: it detects edits and mix-ups, not tampering.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tokclean/core/error.hpp"

namespace tokclean {

inline constexpr std::uint64_t fnv1a_offset = 1469598103934665603ULL;

inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = fnv1a_offset) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

inline std::uint64_t file_hash(const std::filesystem::path& path, std::uint64_t h = fnv1a_offset) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open the file");
    static thread_local char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        h = fnv1a(buf, static_cast<std::size_t>(in.gcount()), h);
        if (!in) break;
    }
    if (in.bad()) fail(path.string(), ": read error");
    return h;
}

// 16 hex digits, for JSON (a 64-bit integer does not survive every JSON reader).
inline std::string hex64(std::uint64_t x) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(x));
    return buf;
}

}  // namespace tokclean
