#pragma once
// Learning-rate schedules with linear warm-up, as Hugging Face's get_*_schedule_with_warmup:
// the k-th optimizer step (k = 0, 1, ...) uses base_lr · factor(k), warm-up steps =
// ceil(warmup_ratio · total_steps), so with warm-up the first step's rate is 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <string_view>

#include "tokclean/core/error.hpp"

namespace tokclean {

enum class ScheduleKind { constant, linear, cosine };

inline ScheduleKind parse_schedule(std::string_view name) {
    if (name == "constant") return ScheduleKind::constant;
    if (name == "linear") return ScheduleKind::linear;
    if (name == "cosine") return ScheduleKind::cosine;
    fail("schedule: expected constant, linear or cosine, got '", name, "'");
}

class LrSchedule {
public:
    LrSchedule(ScheduleKind kind, double base_lr, std::int64_t total_steps, double warmup_ratio)
        : kind_(kind),
          base_lr_(base_lr),
          total_(std::max<std::int64_t>(total_steps, 1)),
          warmup_(static_cast<std::int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)))) {
        if (!(warmup_ratio >= 0.0 && warmup_ratio <= 1.0))
            fail("warmup_ratio: expected a value in [0, 1], got ", warmup_ratio);
    }

    std::int64_t warmup_steps() const { return warmup_; }

    // Learning rate of optimizer step k (0-based).
    double lr_at(std::int64_t k) const { return base_lr_ * factor(k); }

private:
    double factor(std::int64_t k) const {
        if (k < warmup_) return static_cast<double>(k) / static_cast<double>(std::max<std::int64_t>(1, warmup_));
        const double progress = static_cast<double>(k - warmup_) /
                                static_cast<double>(std::max<std::int64_t>(1, total_ - warmup_));
        switch (kind_) {
            case ScheduleKind::constant: return 1.0;
            case ScheduleKind::linear:
                return std::max(0.0, static_cast<double>(total_ - k) /
                                         static_cast<double>(std::max<std::int64_t>(1, total_ - warmup_)));
            case ScheduleKind::cosine:
                return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
        }
        return 1.0;
    }

    ScheduleKind kind_;
    double base_lr_;
    std::int64_t total_;
    std::int64_t warmup_;
};

}  // namespace tokclean
