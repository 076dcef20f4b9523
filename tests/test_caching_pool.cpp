// The GPU allocator's bookkeeping (backend/detail/caching_pool.hpp, under cuda/allocator.cuh)
// on a host fake of the raw allocator: no device needed, so CI checks it.
#define BOOST_TEST_MODULE caching_pool
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <iterator>
#include <map>
#include <ostream>
#include <random>
#include <vector>

#include "test_support.hpp"
#include "tokclean/backend/detail/caching_pool.hpp"

using tokclean::detail::CachingPool;
using tokclean::detail::RawAllocation;

namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

// What the fake device saw.
struct RawLog {
    int allocations = 0, frees = 0;
    std::size_t live = 0;                 // bytes held from the "device"
    std::size_t capacity = 1024 * MiB;    // more fails as out of memory
    bool broken = false;                  // every allocation fails, not for want of memory
    std::map<void*, std::size_t> blocks;  // what it handed out
};

// Host memory standing in for cudaMalloc / cudaFree.
struct FakeRaw {
    static constexpr const char* name = "fakeMalloc";
    RawLog* log;

    RawAllocation allocate(std::size_t bytes) const noexcept {
        if (log->broken) return {nullptr, false, "device is broken"};
        if (log->live + bytes > log->capacity) return {nullptr, true, "out of memory"};
        void* p = std::malloc(bytes);
        ++log->allocations;
        log->live += bytes;
        log->blocks.emplace(p, bytes);
        return {p};
    }
    void free(void* p) const noexcept {
        ++log->frees;
        log->live -= log->blocks.at(p);
        log->blocks.erase(p);
        std::free(p);
    }
};

struct Pool : CachingPool<FakeRaw> {
    explicit Pool(RawLog& log) : CachingPool<FakeRaw>(FakeRaw{&log}) {}
    ~Pool() { release_cached(); }
};

// The pool's two counters, compared in one check.
struct Counters {
    std::size_t in_use, cached;
    bool operator==(const Counters&) const = default;
};
std::ostream& operator<<(std::ostream& out, const Counters& c) {
    return out << "{in use " << c.in_use << ", cached " << c.cached << "}";
}
Counters counters(const Pool& pool) { return {pool.bytes_in_use(), pool.bytes_cached()}; }

}  // namespace

BOOST_AUTO_TEST_CASE(a_block_served_from_the_cache_moves_from_cached_to_in_use) {
    RawLog log;
    Pool pool(log);
    void* a = pool.allocate(1000);  // 1024 bytes: two 512-byte steps
    BOOST_TEST(counters(pool) == (Counters{1024, 0}));
    pool.release(a);
    BOOST_TEST(counters(pool) == (Counters{0, 1024}));

    void* b = pool.allocate(900);  // the cached block, no new device memory
    BOOST_TEST(b == a);
    BOOST_TEST(log.allocations == 1);
    BOOST_TEST(counters(pool) == (Counters{1024, 0}));
    pool.release(b);  // used to take 1024 from an in-use count that never got them: underflow
    BOOST_TEST(counters(pool) == (Counters{0, 1024}));
    BOOST_TEST(pool.bytes_peak() == 1024u);
}

BOOST_AUTO_TEST_CASE(the_peak_is_the_most_held_at_once_in_use_plus_cached) {
    RawLog log;
    Pool pool(log);
    void* a = pool.allocate(3 * MiB);  // 4 MiB: 2 MiB steps from 1 MiB on
    void* b = pool.allocate(512);
    BOOST_TEST(pool.bytes_peak() == 4 * MiB + 512);
    pool.release(a);
    pool.release(b);
    BOOST_TEST(pool.bytes_peak() == 4 * MiB + 512);  // cached memory is still held
    void* c = pool.allocate(4 * MiB);                // served from the cache: the peak stays
    BOOST_TEST(c == a);
    BOOST_TEST(pool.bytes_peak() == 4 * MiB + 512);
    pool.release_cached();  // frees b's block only: a's is in use again
    BOOST_TEST(counters(pool) == (Counters{4 * MiB, 0}));
    BOOST_TEST(log.live == 4 * MiB);
    pool.reset_peak();
    BOOST_TEST(pool.bytes_peak() == 4 * MiB);
    pool.release(c);
}

BOOST_AUTO_TEST_CASE(a_cached_block_more_than_twice_the_request_is_not_used) {
    RawLog log;
    Pool pool(log);
    void* big = pool.allocate(8 * KiB);
    pool.release(big);
    void* small = pool.allocate(2 * KiB);  // 8 KiB would waste more than half of itself
    BOOST_TEST(small != big);
    BOOST_TEST(log.allocations == 2);
    BOOST_TEST(counters(pool) == (Counters{2 * KiB, 8 * KiB}));
    void* half = pool.allocate(4 * KiB);  // exactly half: taken
    BOOST_TEST(half == big);
    BOOST_TEST(counters(pool) == (Counters{10 * KiB, 0}));
    pool.release(small);
    pool.release(half);
    BOOST_TEST(counters(pool) == (Counters{0, 10 * KiB}));
}

BOOST_AUTO_TEST_CASE(out_of_memory_gives_the_cache_back_and_retries) {
    RawLog log;
    log.capacity = 6 * MiB;
    Pool pool(log);
    void* a = pool.allocate(2 * MiB);
    void* b = pool.allocate(2 * MiB);
    pool.release(b);  // 2 MiB in use, 2 MiB cached: 2 MiB left on the device
    void* c = pool.allocate(4 * MiB);  // fits only once b's block is freed
    BOOST_TEST(c != nullptr);
    BOOST_TEST(log.frees == 1);
    BOOST_TEST(counters(pool) == (Counters{6 * MiB, 0}));
    BOOST_TEST(log.live == 6 * MiB);
    // Nothing left to give back: the error names the call and the pool's state, nothing changes.
    test_support::expect_error([&] { pool.allocate(1); },
                               {"fakeMalloc of 512 bytes failed: out of memory", "6 MiB in use", "0 MiB cached"});
    BOOST_TEST(pool.bytes_in_use() == 6 * MiB);
    pool.release(a);
    pool.release(c);
    BOOST_TEST(counters(pool) == (Counters{0, 6 * MiB}));
}

BOOST_AUTO_TEST_CASE(other_failures_throw_without_touching_the_cache) {
    RawLog log;
    Pool pool(log);
    pool.release(pool.allocate(512));
    log.broken = true;
    test_support::expect_error([&] { pool.allocate(64 * KiB); },
                               {"fakeMalloc of 65536 bytes failed: device is broken", "0 MiB in use"});
    BOOST_TEST(log.frees == 0);  // no retry: the cache was not the problem
    BOOST_TEST(counters(pool) == (Counters{0, 512}));
}

BOOST_AUTO_TEST_CASE(null_and_foreign_pointers_are_ignored) {
    RawLog log;
    Pool pool(log);
    void* a = pool.allocate(100);
    int foreign = 0;
    pool.release(nullptr);
    pool.release(&foreign);
    BOOST_TEST(counters(pool) == (Counters{512, 0}));
    pool.release(a);
    pool.release(a);  // twice: the second is not ours any more
    BOOST_TEST(counters(pool) == (Counters{0, 512}));
}

BOOST_AUTO_TEST_CASE(counters_match_the_blocks_over_a_random_workload) {
    // A training loop's churn: the counters always equal the sums over the live and the
    // cached blocks, and every byte the pool holds is the device's.
    RawLog log;
    Pool pool(log);
    std::mt19937 rng(7);
    std::map<void*, std::size_t> live;  // block -> its size
    std::size_t peak = 0;
    for (int step = 0; step < 4000; ++step) {
        if (live.size() < 8 || (live.size() < 40 && rng() % 2 == 0)) {  // 8 to 40 blocks live
            const std::size_t sizes[] = {100, 600, 5000, 70 * KiB, 900 * KiB, 3 * MiB / 2};
            const std::size_t want = sizes[rng() % 6] + rng() % 256;
            void* p = pool.allocate(want);
            BOOST_REQUIRE(!live.contains(p));
            // A new block of block_size(want), or a cached one up to twice that.
            const std::size_t size = log.blocks.at(p), rounded = CachingPool<FakeRaw>::block_size(want);
            BOOST_REQUIRE(size >= rounded && size <= 2 * rounded);
            live.emplace(p, size);
        } else {
            auto it = std::next(live.begin(), static_cast<std::ptrdiff_t>(rng() % live.size()));
            pool.release(it->first);
            live.erase(it);
        }
        std::size_t in_use = 0;
        for (const auto& [p, bytes] : live) in_use += bytes;
        BOOST_REQUIRE_EQUAL(pool.bytes_in_use(), in_use);
        BOOST_REQUIRE_EQUAL(pool.bytes_in_use() + pool.bytes_cached(), log.live);
        peak = std::max(peak, log.live);
        BOOST_REQUIRE_EQUAL(pool.bytes_peak(), peak);
        if (step % 1000 == 999) pool.release_cached();
    }
    BOOST_TEST(log.allocations < 4000);  // blocks were reused
    for (const auto& [p, bytes] : live) pool.release(p);
    BOOST_TEST(pool.bytes_in_use() == 0u);
}
