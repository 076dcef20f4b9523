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
#include <string>
#include <string_view>
#include <system_error>

#include "tokclean/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
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
        detail::create_parent_directories(target_);
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
            std::error_code ec;
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

// A directory that appears under its target name only when commit() succeeds.
//
//   AtomicDirectory dir(out_dir);
//   save_something(dir.path() / "config.json");   // write files into the temporary directory
//   dir.commit();
//
// Semantics of commit():
//  - the temporary directory is a sibling of the target (same parent, so rename works);
//    missing parent directories are created;
//  - no target yet: the temporary is renamed to the target (atomic);
//  - the target is an existing directory: it is renamed aside to a hidden sibling, the new
//    directory is renamed into place, then the old one is deleted. The WHOLE directory is
//    replaced: files of the old directory that were not written anew are gone (copy what you
//    want to keep, such as tokenizer files, into path() first). Between the two renames the
//    target name is briefly absent; if the second rename fails the old directory is moved
//    back, and after a crash in that window the old contents survive in the hidden sibling;
//  - the target exists and is not a directory: Error, nothing is touched.
// Without commit(), the destructor deletes the temporary directory and everything in it.
// Files inside are best written with AtomicFile too (it fsyncs their data).
class AtomicDirectory {
public:
    explicit AtomicDirectory(std::filesystem::path target) : target_(std::move(target)) {
        // "out/" has an empty filename; the directory's name is what we need.
        if (target_.filename().empty()) target_ = target_.parent_path();
        if (target_.filename().empty() || target_.filename() == "." || target_.filename() == "..")
            fail(target_.string(), ": not a usable directory name");
        std::error_code ec;
        if (std::filesystem::exists(target_, ec) && !std::filesystem::is_directory(target_, ec))
            fail(target_.string(), ": exists and is not a directory");
        detail::create_parent_directories(target_);
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

    void commit() {
        TOKCLEAN_CHECK(!committed_, "commit() called twice for ", target_.string());
        namespace fs = std::filesystem;
        std::error_code ec;
        fs::path old;
        if (fs::exists(fs::symlink_status(target_, ec))) {
            if (!fs::is_directory(target_, ec))
                fail(target_.string(), ": exists and is not a directory");
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
    std::filesystem::path target_;
    std::filesystem::path temp_;
    bool committed_ = false;
};

}  // namespace tokclean
