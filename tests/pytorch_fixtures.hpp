#pragma once
// What the model tests share to compare a model with its committed PyTorch fixtures: reading a
// fixture's JSON, scoring every example, and comparing per-token losses.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/token_losses.hpp"

namespace tokclean::test {

inline nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p);
    BOOST_REQUIRE_MESSAGE(in, "missing fixture " << p);
    return nlohmann::json::parse(in);
}

// Every example's per-token losses (NaN where not a target), scored in batches of batch_size.
inline std::vector<std::vector<float>> score_all(CausalLm<Cpu>& model, const std::vector<Example>& data,
                                                 std::int64_t batch_size) {
    std::vector<std::vector<float>> out(data.size());
    score_examples(model, std::span<const Example>(data), batch_size,
                   [&](std::size_t i, std::span<const float> l) { out[i].assign(l.begin(), l.end()); });
    return out;
}

// Per-token losses against the fixture's (null = not a target), within a relative tolerance.
inline void check_losses(const nlohmann::json& expected, const std::vector<std::vector<float>>& got, double rel_tol) {
    BOOST_REQUIRE_EQUAL(expected.size(), got.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        BOOST_REQUIRE_EQUAL(expected[i].size(), got[i].size());
        for (std::size_t j = 0; j < got[i].size(); ++j) {
            BOOST_TEST_CONTEXT("example " << i << ", position " << j) {
                if (expected[i][j].is_null()) {
                    BOOST_TEST(std::isnan(got[i][j]));
                } else {
                    const double e = expected[i][j].get<double>();
                    BOOST_TEST(std::abs(got[i][j] - e) <= rel_tol * std::abs(e), got[i][j] << " vs " << e);
                }
            }
        }
    }
}

}  // namespace tokclean::test
