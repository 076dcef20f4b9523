#pragma once
// Progress of long work on stderr. On a terminal: one line redrawn in place (at most 10
// times a second) with a bar, the rate in tokens/s and the time left:
//   train [=========>               ]  38%  76/200 steps  41.2k tok/s  ETA 0:12  loss 2.3456
// Otherwise (a log file, a pipe, CI): plain lines, the first at once, then one per 10% of
// the work but at most one per second, at least one per 30 seconds, and a last one at the end:
//   train: 76/200 steps (38%), 41.2k tok/s, ETA 12s, loss 2.3456
// Mode::off (--quiet) prints nothing. Results belong on stdout; this never writes there.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace tokclean {

class Progress {
public:
    enum class Mode { off, bar, lines };
    using clock = std::chrono::steady_clock;

    // off when quiet; bar when stderr is a terminal (and TERM is not "dumb"); lines otherwise.
    static Mode mode_for(bool quiet) {
        if (quiet) return Mode::off;
#if defined(__unix__) || defined(__APPLE__)
        const char* term = std::getenv("TERM");
        if (::isatty(2) && !(term && std::string_view(term) == "dumb")) return Mode::bar;
#endif
        return Mode::lines;
    }

    // `total` units of work named `unit` ("steps", "examples"); `done0` of them were done
    // before (a resumed run): rates and the ETA count from there.
    Progress(std::string label, std::int64_t total, std::string unit, Mode mode, std::int64_t done0 = 0,
             std::ostream& out = std::cerr)
        : label_(std::move(label)), unit_(std::move(unit)), total_(std::max<std::int64_t>(total, 0)),
          mode_(mode), out_(out), done0_(done0), done_(done0), start_(clock::now()) {}

    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    ~Progress() {
        if (mode_ == Mode::bar && drawn_ && !finished_) out_ << '\n' << std::flush;
    }

    Mode mode() const { return mode_; }

    // `done` units so far, `tokens` processed since this Progress began (for the rate), and
    // an optional detail shown last ("loss 2.3456").
    void update(std::int64_t done, std::int64_t tokens, std::string_view detail = {}) {
        done_ = std::clamp<std::int64_t>(done, 0, total_);
        tokens_ = tokens;
        if (mode_ == Mode::off) return;
        const auto now = clock::now();
        const double since_last = seconds(last_, now);
        if (mode_ == Mode::bar) {
            if (drawn_ && since_last < 0.1 && done_ < total_) return;
            draw(now, detail);
            return;
        }
        if (done_ == total_ && drawn_) return;  // finish() writes the last line
        const std::int64_t tenth = total_ > 0 ? done_ * 10 / total_ : 0;
        const bool milestone = tenth > last_tenth_ && since_last >= 1.0;
        if (!drawn_ || milestone || since_last >= 30.0) {
            last_tenth_ = tenth;
            write_line(now, detail, false);
        }
    }

    // The last report: the whole run's rate and time.
    void finish(std::string_view detail = {}) {
        if (mode_ == Mode::off || finished_) return;
        const auto now = clock::now();
        if (mode_ == Mode::bar) {
            draw(now, detail, true);
            out_ << '\n' << std::flush;
        } else {
            write_line(now, detail, true);
        }
        finished_ = true;
    }

    // "1:23", "12:03:04"; "1m23s" style for plain lines.
    static std::string clock_time(double s) {
        const auto t = static_cast<long long>(std::llround(std::max(0.0, s)));
        char buf[32];
        if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
        else std::snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
        return buf;
    }
    static std::string words_time(double s) {
        const auto t = static_cast<long long>(std::llround(std::max(0.0, s)));
        char buf[32];
        if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, t / 60 % 60);
        else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
        else std::snprintf(buf, sizeof buf, "%llds", t);
        return buf;
    }
    // 950, 12.3k, 4.56M
    static std::string rate(double per_s) {
        char buf[32];
        if (per_s >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", per_s / 1e6);
        else if (per_s >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", per_s / 1e3);
        else std::snprintf(buf, sizeof buf, "%.0f", per_s);
        return buf;
    }

private:
    static double seconds(clock::time_point a, clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    }
    double elapsed(clock::time_point now) const { return seconds(start_, now); }
    double eta(clock::time_point now) const {
        const auto progressed = done_ - done0_;
        if (progressed <= 0) return -1.0;
        return elapsed(now) / static_cast<double>(progressed) * static_cast<double>(total_ - done_);
    }
    int percent() const { return total_ > 0 ? static_cast<int>(done_ * 100 / total_) : 100; }

    void draw(clock::time_point now, std::string_view detail, bool final = false) {
        constexpr int width = 24;
        const int filled = total_ > 0 ? static_cast<int>(done_ * width / total_) : width;
        std::string bar(static_cast<std::size_t>(width), ' ');
        for (int i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '=';
        if (filled < width) bar[static_cast<std::size_t>(filled)] = '>';
        const double t = elapsed(now), left = eta(now);
        std::string line = "\r" + label_ + " [" + bar + "] " + pad(std::to_string(percent()), 3) + "%  " +
                           std::to_string(done_) + "/" + std::to_string(total_) + " " + unit_;
        if (t > 0 && tokens_ > 0) line += "  " + rate(static_cast<double>(tokens_) / t) + " tok/s";
        if (final) line += "  " + clock_time(t);
        else if (left >= 0) line += "  ETA " + clock_time(left);
        if (!detail.empty()) line.append("  ").append(detail);
        out_ << line << "\x1b[K" << std::flush;  // clear what a longer line left behind
        drawn_ = true;
        last_ = now;
    }

    void write_line(clock::time_point now, std::string_view detail, bool final) {
        const double t = elapsed(now), left = eta(now);
        std::string line = label_ + ": " + std::to_string(done_) + "/" + std::to_string(total_) + " " + unit_ +
                           " (" + std::to_string(percent()) + "%)";
        if (t > 0 && tokens_ > 0) line += ", " + rate(static_cast<double>(tokens_) / t) + " tok/s";
        if (final) line += ", done in " + words_time(t);
        else if (left >= 0) line += ", ETA " + words_time(left);
        if (!detail.empty()) line.append(", ").append(detail);
        out_ << line << '\n' << std::flush;
        drawn_ = true;
        last_ = now;
    }

    static std::string pad(std::string s, std::size_t n) { return std::string(n > s.size() ? n - s.size() : 0, ' ') + s; }

    std::string label_, unit_;
    std::int64_t total_;
    Mode mode_;
    std::ostream& out_;
    std::int64_t done0_, done_;
    std::int64_t tokens_ = 0;
    clock::time_point start_, last_{};
    std::int64_t last_tenth_ = 0;
    bool drawn_ = false, finished_ = false;
};

}  // namespace tokclean
