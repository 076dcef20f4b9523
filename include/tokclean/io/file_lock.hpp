#pragma once
// An exclusive advisory lock (flock) held on a file for an object's lifetime, so that two
// runs never write the same checkpoint, work directory or output at once. The holder writes
// its pid into the file, and a second run is refused with a message naming that pid. The
// kernel drops the lock when the holder dies, even by SIGKILL: a stale lock file never
// blocks the next run.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "tokclean/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#define TOKCLEAN_HAVE_FLOCK 1
#endif

namespace tokclean {

class FileLock {
public:
    FileLock() = default;

    // Creates `file` if needed and locks it; `what` names the locked thing in the message of a
    // refusal ("trained.ckpt is in use by another tokclean run (pid 4242) ..."). With
    // `remove_on_release`, the file is deleted when the lock is released (a lock file beside
    // an output); otherwise it stays (a marker file that is also the lock).
    FileLock(std::filesystem::path file, const std::string& what, bool remove_on_release)
        : file_(std::move(file)), remove_(remove_on_release) {
#ifdef TOKCLEAN_HAVE_FLOCK
        // A lock file that is removed on release can be unlinked by its holder between our
        // open() and flock(): then we hold a lock on a file nobody else sees. Check that the
        // locked file is still the one at the path, and try again if not.
        for (int attempt = 0; attempt < 100; ++attempt) {
            fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
            if (fd_ < 0) fail(what, ": cannot create the lock file ", file_.string(), ": ", std::strerror(errno));
            if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
                const int err = errno;
                const std::string holder = read_pid();
                ::close(fd_);
                fd_ = -1;
                if (err == EWOULDBLOCK)
                    fail(what, " is in use by another tokclean run", holder.empty() ? "" : " (pid " + holder + ")",
                         ": wait for it to finish or stop it; two runs must not write the same files");
                fail(what, ": cannot lock ", file_.string(), ": ", std::strerror(err));
            }
            struct stat locked {}, named {};
            if (::fstat(fd_, &locked) == 0 && ::stat(file_.c_str(), &named) == 0 && locked.st_ino == named.st_ino &&
                locked.st_dev == named.st_dev)
                break;
            ::close(fd_);
            fd_ = -1;
        }
        if (fd_ < 0) fail(what, ": cannot lock ", file_.string(), ": it keeps being replaced");
        const std::string pid = std::to_string(::getpid()) + "\n";
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            // The pid is only for messages; the lock itself holds.
        }
#else
        (void)what;
#endif
    }

    FileLock(FileLock&& o) noexcept
        : file_(std::move(o.file_)), fd_(std::exchange(o.fd_, -1)), remove_(o.remove_) {}
    FileLock& operator=(FileLock&& o) noexcept {
        if (this != &o) {
            release();
            file_ = std::move(o.file_);
            fd_ = std::exchange(o.fd_, -1);
            remove_ = o.remove_;
        }
        return *this;
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    ~FileLock() { release(); }

    bool held() const { return fd_ >= 0; }
    const std::filesystem::path& file() const { return file_; }

    // Unlocks (and, for a lock file, removes it first, so that no other run can lock the
    // file we are about to delete and then lose it).
    void release() noexcept {
#ifdef TOKCLEAN_HAVE_FLOCK
        if (fd_ < 0) return;
        if (remove_) ::unlink(file_.c_str());
        ::close(fd_);
        fd_ = -1;
#endif
    }

private:
    // The pid the holder wrote, for the message ("" if unreadable).
    std::string read_pid() const {
        std::string s(32, '\0');
#ifdef TOKCLEAN_HAVE_FLOCK
        const ssize_t n = ::pread(fd_, s.data(), s.size(), 0);
        s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
#endif
        while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
        for (char c : s)
            if (c < '0' || c > '9') return {};
        return s;
    }

    std::filesystem::path file_;
    int fd_ = -1;
    bool remove_ = false;
};

}  // namespace tokclean
