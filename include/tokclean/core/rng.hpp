#pragma once
// A small deterministic random number generator (xoshiro256**, seeded by splitmix64) with
// a Box-Muller normal. The same seed gives the same numbers on every platform and compiler,
// which std::normal_distribution does not promise.
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace tokclean {

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) {
        std::uint64_t x = seed;
        for (auto& s : state_) s = splitmix64(x);
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    // Uniform integer in [0, n), n > 0 (Lemire's nearly-divisionless method is overkill here).
    std::uint64_t below(std::uint64_t n) { return next_u64() % n; }
    // Standard normal (Box-Muller; one of the pair is discarded for simplicity).
    double normal() {
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

    // The generator's whole state, to save and restore a run (from_state continues the
    // sequence exactly where state() was taken).
    std::array<std::uint64_t, 4> state() const { return {state_[0], state_[1], state_[2], state_[3]}; }
    static Rng from_state(const std::array<std::uint64_t, 4>& s) {
        Rng r;
        for (int i = 0; i < 4; ++i) r.state_[i] = s[static_cast<std::size_t>(i)];
        return r;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::uint64_t state_[4];
};

}  // namespace tokclean
