// The model alone: per-token losses, a backward pass and one AdamW step.
//
//   model_alone MODEL_DIR
#include <cmath>
#include <cstdio>

#include <tokclean/tokclean.hpp>

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 2) {
        std::fprintf(stderr, "usage: model_alone MODEL_DIR\n");
        return 2;
    }
    OpenedModel dir = open_model(argv[1]);
    const std::unique_ptr<CausalLm<Cpu>> model = dir.take_model();  // any architecture

    // One batch (B, T) = (1, 4): the loss at j predicts labels[j] from the tokens before j.
    const std::vector<std::int32_t> ids = {1, 2, 3, 4}, labels = {ignore_label, 2, 3, 4};
    const float mean = model->forward(ids.data(), labels.data(), 1, 4);
    const auto losses = model->token_losses();  // (B, T), NaN where not a target
    std::printf("mean loss %.4f; token 1: %.4f; token 0 is %s\n", mean, losses[1],
                std::isnan(losses[0]) ? "not a target" : "a target");

    model->zero_grad();
    model->backward();  // flat_grads() += d mean / d θ
    Tensor<float>& params = model->flat_params();  // every parameter, one buffer
    AdamW<Cpu> adamw(params.numel(), AdamWHyper{});
    adamw.step(params, model->flat_grads(), 1e-3f);
    const float after = model->forward(ids.data(), labels.data(), 1, 4);
    std::printf("after one AdamW step: %.4f (%s)\n", after, after < mean ? "lower" : "not lower");
    return after < mean ? 0 : 1;
} catch (const std::exception& e) {
    std::fprintf(stderr, "model_alone: %s\n", e.what());
    return 1;
}
