// AdamW against PyTorch's update written out in double; schedules against Hugging Face's
// formulas; clipping against torch.nn.utils.clip_grad_norm_'s rule.
#define BOOST_TEST_MODULE optim
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "gradcheck.hpp"
#include "tokclean/optim/adamw.hpp"
#include "tokclean/optim/clip.hpp"
#include "tokclean/optim/schedule.hpp"

using namespace tokclean;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(adamw_matches_pytorch_update_rule_over_steps) {
    const std::int64_t N = 10;
    AdamWHyper h;
    h.weight_decay = 0.1f;
    AdamW<Cpu> opt(N, h);
    Tensor<float> p(Shape{N}), g(Shape{N});
    const auto init = test::random_vector(N, 1);
    std::copy(init.begin(), init.end(), p.data());
    std::vector<double> rp(init.begin(), init.end()), rm(N, 0.0), rv(N, 0.0);
    const double lrs[] = {1e-2, 5e-3, 2e-2, 1e-3};
    for (int step = 1; step <= 4; ++step) {
        const auto grad = test::random_vector(N, 100 + step);
        std::copy(grad.begin(), grad.end(), g.data());
        opt.step(p, g, static_cast<float>(lrs[step - 1]));
        const double lr = lrs[step - 1], b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        for (std::int64_t i = 0; i < N; ++i) {
            rp[i] *= 1 - lr * wd;  // decoupled decay first, as torch.optim.AdamW
            rm[i] = b1 * rm[i] + (1 - b1) * grad[i];
            rv[i] = b2 * rv[i] + (1 - b2) * grad[i] * grad[i];
            const double mhat = rm[i] / (1 - std::pow(b1, step));
            const double vhat = rv[i] / (1 - std::pow(b2, step));
            rp[i] -= lr * mhat / (std::sqrt(vhat) + eps);
        }
    }
    BOOST_TEST(opt.steps_taken() == 4);
    for (std::int64_t i = 0; i < N; ++i) BOOST_TEST(p(i) == rp[i], tt::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(linear_schedule_warms_up_then_decays_to_zero) {
    // 100 steps, ratio 0.03 -> ceil(3) warm-up steps: 0, 1/3, 2/3, then (100-k)/97.
    LrSchedule s(ScheduleKind::linear, 1.0, 100, 0.03);
    BOOST_TEST(s.warmup_steps() == 3);
    BOOST_TEST(s.lr_at(0) == 0.0);
    BOOST_TEST(s.lr_at(1) == 1.0 / 3, tt::tolerance(1e-12));
    BOOST_TEST(s.lr_at(3) == 1.0, tt::tolerance(1e-12));
    BOOST_TEST(s.lr_at(50) == 50.0 / 97, tt::tolerance(1e-12));
    BOOST_TEST(s.lr_at(99) == 1.0 / 97, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(cosine_and_constant_schedules) {
    LrSchedule cos(ScheduleKind::cosine, 2.0, 10, 0.0);
    BOOST_TEST(cos.lr_at(0) == 2.0, tt::tolerance(1e-12));
    BOOST_TEST(cos.lr_at(5) == 1.0, tt::tolerance(1e-12));
    BOOST_TEST(cos.lr_at(10) == 0.0, tt::tolerance(1e-12));
    LrSchedule con(ScheduleKind::constant, 0.5, 10, 0.2);
    BOOST_TEST(con.lr_at(1) == 0.25, tt::tolerance(1e-12));
    BOOST_TEST(con.lr_at(7) == 0.5, tt::tolerance(1e-12));
    BOOST_CHECK_THROW(parse_schedule("step"), Error);
    BOOST_CHECK_THROW(LrSchedule(ScheduleKind::linear, 1.0, 10, 1.5), Error);
}

BOOST_AUTO_TEST_CASE(clip_scales_to_max_norm_only_when_above) {
    Tensor<float> g(Shape{4});
    const float vals[] = {3.0f, 4.0f, 0.0f, 0.0f};  // norm 5
    std::copy(vals, vals + 4, g.data());
    BOOST_TEST(clip_grad_norm(g, 10.0) == 5.0, tt::tolerance(1e-12));
    BOOST_TEST(g(0) == 3.0f);
    BOOST_TEST(clip_grad_norm(g, 1.0) == 5.0, tt::tolerance(1e-12));
    BOOST_TEST(g(0) == 3.0 / (5.0 + 1e-6), tt::tolerance(1e-6));
    BOOST_TEST(g(1) == 4.0 / (5.0 + 1e-6), tt::tolerance(1e-6));
}
