#pragma once
// `tokclean demo`: the short pipeline on shipped data (init, score, train, score).
#include "cmd_model.hpp"

namespace tokclean::cli {

struct DemoFlags {
    fs::path data = TOKCLEAN_DEMO_DATA;
    fs::path work = "tokclean-demo";
    std::int64_t steps = 300;
};

inline void run_demo(const GlobalFlags& g, const DemoFlags& f) {
    if (!fs::exists(f.data)) fail(f.data.string(), ": demo data not found (pass --data FILE)");
    fs::create_directories(f.work);
    InitFlags init;
    init.out = f.work / "base";
    init.layers = 2;
    init.heads = 4;
    init.embd = 128;
    init.positions = 128;
    init.seed = 1;
    log(g, "[1/4] init a byte-level GPT-2 (2 layers, d 128) -> " + init.out.string());
    run_init(g, init);

    ScoreFlags score;
    score.model = init.out;
    score.data.data = f.data;
    score.out = f.work / "losses_before.jsonl";
    log(g, "[2/4] score the demo data with the untrained model");
    const double before = run_score(g, score);

    TrainFlags tr;
    tr.model = init.out;
    tr.out = f.work / "trained";
    tr.data.data = f.data;
    tr.options.steps = f.steps;
    tr.options.batch_size = 16;
    tr.options.lr = 3e-3;
    tr.schedule = "cosine";
    tr.options.warmup_ratio = 0.05;
    tr.options.seed = 1;
    log(g, "[3/4] train " + std::to_string(f.steps) + " steps -> " + tr.out.string());
    run_train(g, tr);

    score.model = tr.out;
    score.out = f.work / "losses_after.jsonl";
    log(g, "[4/4] score again with the trained model");
    const double after = run_score(g, score);
    std::cerr << "demo: mean per-token loss " << fixed(before, 3) << " -> " << fixed(after, 3)
              << " (uniform guess: " << fixed(std::log(257.0), 3) << "); outputs in " << f.work.string() << "\n";
}

}  // namespace tokclean::cli
