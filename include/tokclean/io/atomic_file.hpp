#pragma once
// All-or-nothing output. AtomicFile writes a file through a temporary beside the target and
// renames it over the target on commit(); AtomicDirectory does the same for a directory (a
// model directory). If commit() is never reached (an error was thrown), the destructor
// removes the temporary, so a failed run leaves no partial output behind.
//
// POSIX: rename(2) within one directory replaces the target atomically, so readers see the
// old file or the new one, never a mix. The data is fsync'ed before the rename and the
// parent directory after it, so a crash does not leave an empty file under the target name.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/io/file_lock.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#define TOKCLEAN_HAVE_POSIX_IO 1
#endif

namespace tokclean {

namespace detail {

// A name for a temporary sibling of `target` that no other process or object uses:
// ".<name>.<tag>.<pid>.<counter>.<clock>". The leading dot keeps it out of globs like *.jsonl.
inline std::filesystem::path sibling_temp_name(const std::filesystem::path& target,
                                               std::string_view tag) {
    static std::atomic<std::uint64_t> counter{0};
#ifdef TOKCLEAN_HAVE_POSIX_IO
    const auto pid = static_cast<long long>(::getpid());
#else
    const long long pid = 0;
#endif
    const auto ticks = static_cast<unsigned long long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::string name = "." + target.filename().string() + "." + std::string(tag) + "." +
                       std::to_string(pid) + "." + std::to_string(counter++) + "." +
                       std::to_string(ticks % 1000000007ULL);
    return target.parent_path() / name;
}

inline std::string errno_text(int err) { return std::strerror(err); }

// The directory holding `target`, for messages ("." rather than "").
inline std::string dir_name(const std::filesystem::path& target) {
    return target.parent_path().empty() ? std::string(".") : target.parent_path().string();
}

// Like `mkdir -p` for the directory that will hold `target` (as save_pretrained does). A
// failed run may leave these empty directories behind, but never a partial file.
inline void create_parent_directories(const std::filesystem::path& target) {
    const auto parent = target.parent_path();
    if (parent.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) fail(target.string(), ": cannot create the directory '", parent.string(), "': ", ec.message());
}

// Flushes a file's data to the disk (best effort where POSIX is not available).
inline void fsync_path(const std::filesystem::path& path, const std::string& where) {
#ifdef TOKCLEAN_HAVE_POSIX_IO
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(where, ": cannot reopen ", path.string(), " to sync it: ", errno_text(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) fail(where, ": fsync failed: ", errno_text(err));
#else
    (void)path;
    (void)where;
#endif
}

// Makes a rename inside `dir` durable. Some file systems refuse fsync on directories; that
// is not an error worth failing a run for, so this one is best effort.
inline void fsync_directory(const std::filesystem::path& dir) noexcept {
#ifdef TOKCLEAN_HAVE_POSIX_IO
    const auto d = dir.empty() ? std::filesystem::path(".") : dir;
    const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
#else
    (void)dir;
#endif
}

// Whether process `pid` is gone (a temporary it left can be removed). Unknown: alive.
inline bool process_is_gone(long long pid) {
#ifdef TOKCLEAN_HAVE_POSIX_IO
    return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
#else
    (void)pid;
    return false;
#endif
}

// If `entry` is a temporary that sibling_temp_name made for `target_name` with `tag`
// (".<target_name>.<tag>.<pid>.<n>.<t>"), its pid; else -1.
inline long long temp_owner_pid(std::string_view entry, std::string_view target_name, std::string_view tag) {
    const std::string prefix = "." + std::string(target_name) + "." + std::string(tag) + ".";
    if (!entry.starts_with(prefix)) return -1;
    entry.remove_prefix(prefix.size());
    long long pid = 0;
    std::size_t digits = 0;
    for (; digits < entry.size() && entry[digits] >= '0' && entry[digits] <= '9'; ++digits)
        pid = pid * 10 + (entry[digits] - '0');
    return digits > 0 && digits < 12 && digits < entry.size() && entry[digits] == '.' ? pid : -1;
}

// A run killed before it could clean up (SIGKILL, a second Ctrl-C, a crash) leaves its
// temporaries beside the target; the next run for the same target removes those of
// processes that are gone. ".old." siblings (a directory moved aside while being replaced)
// are removed only when the target exists, i.e. the replacement went through.
inline void remove_stale_temporaries(const std::filesystem::path& target) {
    namespace fs = std::filesystem;
    const std::string name = target.filename().string();
    const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::error_code ec;
    const bool target_exists = fs::exists(fs::symlink_status(target, ec));
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string entry = e.path().filename().string();
        const long long tmp = temp_owner_pid(entry, name, "tmp");
        const long long old = target_exists ? temp_owner_pid(entry, name, "old") : -1;
        if (process_is_gone(tmp) || process_is_gone(old)) stale.push_back(e.path());
    }
    for (const auto& p : stale) fs::remove_all(p, ec);
}

}  // namespace detail

// A file that appears under its target name only when commit() succeeds.
//
//   AtomicFile out(path);
//   out.stream() << ...;     // or out.write(bytes, n)
//   out.commit();            // flush, fsync, rename over `path`
//
// The temporary is created exclusively (O_EXCL) in the target's directory with the usual
// permissions (0666 minus the umask), so the committed file looks like any file the user
// would have written. Missing parent directories are created.
class AtomicFile {
public:
    explicit AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
        if (target_.filename().empty()) fail(target_.string(), ": not a file name");
        std::error_code ec;
        if (std::filesystem::is_directory(target_, ec))
            fail(target_.string(), ": is a directory (a file goes here)");
        detail::create_parent_directories(target_);
        detail::remove_stale_temporaries(target_);
        for (int attempt = 0;; ++attempt) {
            temp_ = detail::sibling_temp_name(target_, "tmp");
#ifdef TOKCLEAN_HAVE_POSIX_IO
            // O_EXCL: never truncate someone else's file that happens to have this name.
            const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
            if (fd < 0) {
                if (errno == EEXIST && attempt < 100) continue;
                fail(target_.string(), ": cannot create a temporary file in '",
                     detail::dir_name(target_), "': ", detail::errno_text(errno));
            }
            ::close(fd);
#endif
            break;
        }
        out_.open(temp_, std::ios::binary | std::ios::trunc);
        if (!out_) {
            std::filesystem::remove(temp_, ec);
            fail(target_.string(), ": cannot create a temporary file in '",
                 detail::dir_name(target_), "'");
        }
    }

    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    ~AtomicFile() {
        if (!committed_) {
            out_.close();
            std::error_code ec;  // a destructor must not throw; nothing useful to report
            std::filesystem::remove(temp_, ec);
        }
    }

    std::ostream& stream() { return out_; }
    void write(const void* data, std::size_t bytes) {
        out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    }
    void write(std::string_view text) { write(text.data(), text.size()); }

    const std::filesystem::path& target() const { return target_; }
    const std::filesystem::path& temp_path() const { return temp_; }
    bool committed() const { return committed_; }

    // Flushes, fsyncs and renames the temporary over the target. Throws Error (and leaves the
    // target untouched) if any write failed, e.g. the disk is full.
    void commit() {
        TOKCLEAN_CHECK(!committed_, "commit() called twice for ", target_.string());
        out_.flush();
        const bool ok = static_cast<bool>(out_);
        out_.close();
        if (!ok || out_.fail()) fail(target_.string(), ": writing failed (disk full?)");
        detail::fsync_path(temp_, target_.string());
        std::error_code ec;
        std::filesystem::rename(temp_, target_, ec);
        if (ec) fail(target_.string(), ": cannot rename the temporary into place: ", ec.message());
        committed_ = true;
        detail::fsync_directory(target_.parent_path());
    }

private:
    std::filesystem::path target_;
    std::filesystem::path temp_;
    std::ofstream out_;
    bool committed_ = false;
};

// What AtomicDirectory does with a target directory that already exists.
enum class ExistingDirectory {
    // Replace it as a whole, but only when nothing is lost: every entry of the old directory
    // is a file the new one holds too (a model written again over itself). Any other entry
    // (a user's data, notes, another tool's files) makes it an error, before and at commit.
    replace_if_nothing_lost,
    // Write the new files into it, replacing those of the same names and keeping the rest
    // (the user asked for it, e.g. with --force). Each file lands atomically, the set does not.
    keep_other_files,
};

// A directory that appears under its target name only when commit() succeeds.
//
//   AtomicDirectory dir(out_dir);                  // checks and locks the target at once
//   dir.expect_files({"config.json", ...});        // optional: refuse now what commit would
//   save_something(dir.path() / "config.json");   // write files into the temporary directory
//   dir.commit();
//
// Semantics:
//  - the constructor refuses a target that is a file, locks the target (a sibling
//    ".<name>.lock", so two runs never write the same directory), removes temporaries left
//    by dead runs, and creates the temporary directory beside the target (same parent, so
//    rename works); missing parent directories are created;
//  - no target yet: commit() renames the temporary to the target (atomic);
//  - the target exists (ExistingDirectory::replace_if_nothing_lost, the default): every entry
//    it holds must be one the temporary holds too, else Error naming the first other entry;
//    then it is renamed aside to a hidden sibling, the new directory is renamed into place,
//    and the old one is deleted. Between the two renames the target name is briefly absent;
//    if the second rename fails the old directory is moved back, and after a crash in that
//    window the old contents survive in the hidden ".<name>.old.*" sibling;
//  - ExistingDirectory::keep_other_files: the new files are renamed into the existing
//    directory one by one, other entries stay.
// Without commit(), the destructor deletes the temporary directory and everything in it.
// Files inside are best written with AtomicFile too (it fsyncs their data).
class AtomicDirectory {
public:
    explicit AtomicDirectory(std::filesystem::path target,
                             ExistingDirectory existing = ExistingDirectory::replace_if_nothing_lost)
        : target_(std::move(target)), existing_(existing) {
        // "out/" has an empty filename; the directory's name is what we need.
        if (target_.filename().empty()) target_ = target_.parent_path();
        if (target_.filename().empty() || target_.filename() == "." || target_.filename() == "..")
            fail(target_.string(), ": not a usable directory name");
        std::error_code ec;
        if (std::filesystem::exists(target_, ec) && !std::filesystem::is_directory(target_, ec))
            fail(target_.string(), ": exists and is not a directory");
        detail::create_parent_directories(target_);
        lock_ = FileLock(target_.parent_path() / ("." + target_.filename().string() + ".lock"), target_.string(),
                         /*remove_on_release=*/true);
        detail::remove_stale_temporaries(target_);
        for (int attempt = 0;; ++attempt) {
            temp_ = detail::sibling_temp_name(target_, "tmp");
            // create_directory returns false when the name exists: try another.
            if (std::filesystem::create_directory(temp_, ec)) break;
            if (ec || attempt >= 100)
                fail(target_.string(), ": cannot create a temporary directory in '",
                     detail::dir_name(target_), "': ",
                     ec ? ec.message() : std::string("name collisions"));
        }
    }

    AtomicDirectory(const AtomicDirectory&) = delete;
    AtomicDirectory& operator=(const AtomicDirectory&) = delete;
    // Moved from: the new object owns the temporary (the old one no longer removes it).
    AtomicDirectory(AtomicDirectory&& o) noexcept
        : target_(std::move(o.target_)), temp_(std::move(o.temp_)), existing_(o.existing_),
          replaced_(std::move(o.replaced_)), lock_(std::move(o.lock_)),
          committed_(std::exchange(o.committed_, true)) {}

    ~AtomicDirectory() {
        if (!committed_) {
            std::error_code ec;
            std::filesystem::remove_all(temp_, ec);
        }
    }

    // The temporary directory to write into.
    const std::filesystem::path& path() const { return temp_; }
    const std::filesystem::path& target() const { return target_; }
    bool committed() const { return committed_; }

    // Refuses now (before the work that produces the files) an existing target that commit()
    // would refuse: one holding an entry outside `names`, the files the new directory will hold.
    // Entries `replaced` accepts are replaced even where the new directory holds no file of
    // that name (a model's weight files, whose sharding may differ between two saves).
    void expect_files(const std::vector<std::string>& names, std::function<bool(std::string_view)> replaced = {}) {
        replaced_ = std::move(replaced);
        check_nothing_lost([&](const std::string& entry) {
            if (replaced_ && replaced_(entry)) return true;
            for (const auto& n : names)
                if (n == entry) return true;
            return false;
        });
    }

    // Copies each of `files` (a model's tokenizer files, say) into the temporary directory.
    void copy_in(std::span<const std::filesystem::path> files) const {
        for (const auto& src : files) {
            std::error_code ec;
            std::filesystem::copy_file(src, temp_ / src.filename(), std::filesystem::copy_options::overwrite_existing,
                                       ec);
            if (ec) fail(src.string(), ": cannot copy into ", target_.string(), ": ", ec.message());
        }
    }

    void commit() {
        TOKCLEAN_CHECK(!committed_, "commit() called twice for ", target_.string());
        namespace fs = std::filesystem;
        std::error_code ec;
        fs::path old;
        if (fs::exists(fs::symlink_status(target_, ec))) {
            if (!fs::is_directory(target_, ec))
                fail(target_.string(), ": exists and is not a directory");
            if (existing_ == ExistingDirectory::keep_other_files) return merge_into_target();
            check_nothing_lost([&](const std::string& entry) {
                return fs::exists(temp_ / entry, ec) || (replaced_ && replaced_(entry));
            });
            old = detail::sibling_temp_name(target_, "old");
            fs::rename(target_, old, ec);
            if (ec)
                fail(target_.string(), ": cannot move the existing directory aside: ", ec.message());
        }
        fs::rename(temp_, target_, ec);
        if (ec) {
            const std::string why = ec.message();
            if (!old.empty()) fs::rename(old, target_, ec);  // put the old one back
            fail(target_.string(), ": cannot rename the temporary directory into place: ", why);
        }
        committed_ = true;
        detail::fsync_directory(target_.parent_path());
        if (!old.empty()) fs::remove_all(old, ec);  // leftovers are harmless hidden siblings
    }

private:
    // Error unless every entry of the existing target satisfies `kept` (has a new version).
    template <class Kept>
    void check_nothing_lost(Kept kept) const {
        if (existing_ == ExistingDirectory::keep_other_files) return;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(target_, ec)) {
            const std::string entry = e.path().filename().string();
            if (!kept(entry))
                fail(target_.string(), ": exists and holds '", entry,
                     "', which the new directory would not keep (only a directory holding nothing but the files "
                     "written anew is replaced): choose another output directory, or let tokclean write into "
                     "this one and keep the other files (--force)");
        }
    }

    // keep_other_files: each new entry renamed over its namesake in the target.
    void merge_into_target() {
        namespace fs = std::filesystem;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(temp_, ec)) {
            const fs::path dest = target_ / e.path().filename();
            if (fs::is_directory(dest, ec) != fs::is_directory(e.path(), ec))
                fail(dest.string(), ": exists as a ", fs::is_directory(dest, ec) ? "directory" : "file",
                     " where tokclean writes a ", fs::is_directory(e.path(), ec) ? "directory" : "file");
            if (fs::is_directory(e.path(), ec)) fs::remove_all(dest, ec);
            fs::rename(e.path(), dest, ec);
            if (ec) fail(dest.string(), ": cannot move the new file into place: ", ec.message());
        }
        committed_ = true;
        fs::remove_all(temp_, ec);
        detail::fsync_directory(target_);
    }

    std::filesystem::path target_;
    std::filesystem::path temp_;
    ExistingDirectory existing_ = ExistingDirectory::replace_if_nothing_lost;
    std::function<bool(std::string_view)> replaced_;  // see expect_files
    FileLock lock_;
    bool committed_ = false;
};

}  // namespace tokclean
