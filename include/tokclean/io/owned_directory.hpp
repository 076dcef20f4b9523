#pragma once
// A directory that tokclean keeps its resumable state in (a training checkpoint, the work
// directory of self-evolving cleaning), opened so that nothing a user owns is ever lost:
//  - a directory that does not exist is created, and marked as tokclean's with a file
//    ".tokclean" ({"format": "tokclean-directory", "kind": ..., "created": true});
//  - an existing directory is used only if it carries that marker (of the same kind), is
//    empty, or is a state directory of an earlier tokclean (the owner recognises it: every
//    entry is one it writes, and its state file is there). Anything else — the working
//    directory, a model, a data file, an output — is refused before any work starts;
//  - while open, the directory is locked (".tokclean.lock", flock): a second run that
//    names it is refused with the holder's pid;
//  - remove_contents() deletes only the entries the owner writes (its `ours` predicate),
//    then the marker, then the directory itself if tokclean created it and it is now empty:
//    a file a user put there survives, and so does a directory the user made.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/file_lock.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

inline constexpr std::string_view owned_directory_marker = ".tokclean";
inline constexpr std::string_view owned_directory_lock = ".tokclean.lock";

class OwnedDirectory {
public:
    // Which entries are the owner's (by file name), and whether an unmarked directory holds
    // an earlier tokclean's state (called only when every entry is the owner's).
    using NamePredicate = std::function<bool(std::string_view name)>;
    using LegacyCheck = std::function<bool(const std::filesystem::path& dir)>;

    OwnedDirectory() = default;

    // Opens `dir` for `kind` (e.g. "train-checkpoint"); `what` names it in messages
    // ("checkpoint directory"). Creates it if missing; refuses it (Error) if it is not
    // tokclean's; locks it.
    OwnedDirectory(std::filesystem::path dir, std::string kind, std::string what, NamePredicate ours,
                   LegacyCheck legacy = {})
        : dir_(std::move(dir)), kind_(std::move(kind)), ours_(std::move(ours)) {
        namespace fs = std::filesystem;
        if (dir_.filename().empty()) dir_ = dir_.parent_path();  // "ckpt/"
        const std::string name = dir_.string();
        std::error_code ec;
        const auto st = fs::status(dir_, ec);
        if (fs::exists(st) && !fs::is_directory(st))
            fail(name, ": exists and is not a directory (the ", what, " must be a directory tokclean creates)");
        if (!fs::exists(st)) {
            detail::create_parent_directories(dir_);
            if (!fs::create_directory(dir_, ec) && ec)
                fail(name, ": cannot create the ", what, ": ", ec.message());
            created_ = true;
        } else if (!fs::exists(dir_ / std::string(owned_directory_marker), ec)) {
            bool all_ours = true, empty = true;
            std::string foreign;
            for (const auto& e : fs::directory_iterator(dir_, ec)) {
                const std::string n = e.path().filename().string();
                if (n == owned_directory_lock) continue;
                empty = false;
                if (!ours_(n)) {
                    all_ours = false;
                    foreign = n;
                    break;
                }
            }
            if (ec) fail(name, ": cannot list the ", what, ": ", ec.message());
            if (!empty && !(all_ours && legacy && legacy(dir_)))
                fail(name, ": exists and is not a tokclean ", what, " (it holds '", detail::printable(foreign),
                     "' and no ", owned_directory_marker,
                     " marker): tokclean never writes into nor removes such a directory; name a new one");
            created_ = false;  // adopted: an empty directory someone made, or an older tokclean's
        } else {
            read_marker(what);
        }
        lock();
        if (!fs::exists(dir_ / std::string(owned_directory_marker), ec)) write_marker();
    }

    OwnedDirectory(OwnedDirectory&&) noexcept = default;
    OwnedDirectory& operator=(OwnedDirectory&&) noexcept = default;
    OwnedDirectory(const OwnedDirectory&) = delete;
    OwnedDirectory& operator=(const OwnedDirectory&) = delete;

    const std::filesystem::path& path() const { return dir_; }
    bool is_open() const { return lock_.held(); }
    // Whether tokclean created the directory (then it is removed with its contents).
    bool created() const { return created_; }

    // True when the directory holds nothing but the marker (and the lock): no state saved.
    bool holds_nothing() const {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
            const std::string n = e.path().filename().string();
            if (n != owned_directory_marker && n != owned_directory_lock) return false;
        }
        return true;
    }

    // Removes what tokclean wrote here (the owner's entries and the marker), then the
    // directory if tokclean created it and nothing else is left; releases the lock (taken
    // again first if close() released it: Error if another run holds it now).
    void remove_contents() {
        if (dir_.empty()) return;
        if (!is_open()) lock();
        namespace fs = std::filesystem;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir_, ec)) {
            const std::string n = e.path().filename().string();
            if (ours_(n)) fs::remove_all(e.path(), ec);
        }
        fs::remove(dir_ / std::string(owned_directory_marker), ec);
        lock_.release();
        if (created_) fs::remove(dir_, ec);  // fails, harmlessly, when a user's file is left inside
        dir_.clear();
    }

    // Releases the lock, keeping everything (the state stays for a later run to resume).
    void close() { lock_.release(); }

private:
    void lock() { lock_ = FileLock(dir_ / std::string(owned_directory_lock), dir_.string(), /*remove_on_release=*/true); }

    void read_marker(const std::string& what) {
        const auto file = dir_ / std::string(owned_directory_marker);
        const nlohmann::json j = read_json_file(file);
        const JsonWhere w{file.string(), 0};
        require_object(j, w);
        if (optional_string(j, "format", "", w) != "tokclean-directory")
            fail(w.str(), ": field 'format': expected \"tokclean-directory\" (this is not a tokclean ", what, ")");
        if (const auto kind = require_string(j, "kind", w); kind != kind_)
            fail(dir_.string(), ": is a tokclean ", detail::printable(kind), " directory, not a ", what,
                 "; name another directory");
        created_ = optional_bool(j, "created", false, w);
    }
    void write_marker() const {
        AtomicFile out(dir_ / std::string(owned_directory_marker));
        out.write(nlohmann::json{{"format", "tokclean-directory"}, {"kind", kind_}, {"created", created_}}.dump() +
                  "\n");
        out.commit();
    }

    std::filesystem::path dir_;
    std::string kind_;
    NamePredicate ours_;
    bool created_ = false;
    FileLock lock_;
};

}  // namespace tokclean
