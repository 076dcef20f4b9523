#pragma once
// Stopping long work cleanly on SIGINT (Ctrl-C) or SIGTERM (kill, a batch scheduler's
// time limit). While an InterruptScope lives, the first such signal only sets a flag that
// loops poll between steps (interrupt_signal()); the loop saves what it has and throws
// Interrupted. A second signal ends the process at once (the default action), for when
// the user does not want to wait for the current step.
#include <csignal>
#include <string>

#include "tokclean/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#define TOKCLEAN_HAVE_SIGACTION 1
#endif

namespace tokclean {

namespace detail {
inline volatile std::sig_atomic_t pending_signal = 0;

extern "C" inline void tokclean_on_interrupt(int sig) {
    if (pending_signal != 0) {  // the second one: stop now
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    pending_signal = sig;
}
}  // namespace detail

// The signal (SIGINT or SIGTERM) received since the scope began, or 0.
inline int interrupt_signal() { return detail::pending_signal; }

inline const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        default: return "a signal";
    }
}

// Work stopped by a signal after saving what could be saved; the message says where it is
// and how to continue. The program exits with 128 + signal, as a shell reports it.
class Interrupted : public Error {
public:
    Interrupted(int sig, const std::string& what) : Error(what), signal_(sig) {}
    int signal() const { return signal_; }
    int exit_code() const { return 128 + signal_; }

private:
    int signal_;
};

// Catches SIGINT and SIGTERM for its lifetime (see the top of this file); not reentrant:
// one scope at a time.
class InterruptScope {
public:
    InterruptScope() {
        detail::pending_signal = 0;
#ifdef TOKCLEAN_HAVE_SIGACTION
        struct sigaction sa {};
        sa.sa_handler = detail::tokclean_on_interrupt;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;  // file writes in progress carry on
        // A signal the process was started ignoring stays ignored (a shell's background jobs
        // ignore SIGINT, so Ctrl-C in that terminal is not meant for them).
        sigaction(SIGINT, nullptr, &old_int_);
        sigaction(SIGTERM, nullptr, &old_term_);
        if (old_int_.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, nullptr);
        if (old_term_.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, nullptr);
#else
        old_int_ = std::signal(SIGINT, detail::tokclean_on_interrupt);
        old_term_ = std::signal(SIGTERM, detail::tokclean_on_interrupt);
#endif
    }
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;
    ~InterruptScope() {
#ifdef TOKCLEAN_HAVE_SIGACTION
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
#else
        std::signal(SIGINT, old_int_);
        std::signal(SIGTERM, old_term_);
#endif
    }

private:
#ifdef TOKCLEAN_HAVE_SIGACTION
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
#else
    void (*old_int_)(int) = nullptr;
    void (*old_term_)(int) = nullptr;
#endif
};

}  // namespace tokclean
