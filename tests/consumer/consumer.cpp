// A downstream program: includes the umbrella header, runs a tiny model forward.
#include <cmath>
#include <cstdio>
#include <vector>

#include <tokclean/tokclean.hpp>

int main() {
    tokclean::GptConfig c;
    c.n_layer = 1;
    c.n_head = 2;
    c.n_embd = 16;
    c.n_positions = 8;
    tokclean::Gpt<tokclean::Cpu> model(c, tokclean::gpt_init(c, 0));
    const std::vector<std::int32_t> ids = {72, 105, 33, 256};
    const float loss = model.forward(ids.data(), ids.data(), 1, 4);
    std::printf("consumer: mean loss %.4f over %lld targets\n", loss,
                static_cast<long long>(model.num_targets()));
    return std::isfinite(loss) && model.num_targets() == 3 ? 0 : 1;
}
