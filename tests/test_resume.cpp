// Kill and resume: a train run stopped by SIGKILL (after a periodic checkpoint), by SIGTERM
// or by SIGINT (which save a checkpoint and exit 128 + signal), continued with --resume,
// ends with the same model.safetensors, byte for byte, as a run never stopped. evolve stopped
// by SIGTERM keeps its finished chunks and a rerun ends with the same model and data.
#define BOOST_TEST_MODULE resume
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

// Shuffled batches over 10 epochs (the shuffling RNG is restored across epoch boundaries),
// warm-up, cosine decay, weight decay and clipping: every piece of state a step depends on.
std::string train_args(const Scratch& s, const std::string& out) {
    return "train --model " + (fixtures / "model").string() + " --data " + s.str("pool.jsonl") + " --out " + s.str(out) +
           " --steps 400 --batch-size 4 --lr 1e-3 --schedule cosine --warmup-ratio 0.1 --weight-decay 0.01"
           " --grad-clip 1 --seed 7";
}

int step_of(const fs::path& state) {
    try {
        return json::parse(slurp(state)).at("step").get<int>();
    } catch (const std::exception&) {
        return -1;  // not there, or being replaced
    }
}

std::size_t step_dirs(const fs::path& ckpt) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(ckpt)) n += e.path().filename().string().starts_with("step_");
    return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(train_killed_by_sigkill_resumes_to_the_same_model) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 11, 40);
    const Run whole = tokclean("--quiet " + train_args(s, "whole"), s);
    BOOST_REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);

    const fs::path state = s / "killed.ckpt" / "state.json";
    {
        Background run("--quiet " + train_args(s, "killed") + " --checkpoint-every 4", s);
        BOOST_REQUIRE_MESSAGE(run.wait_for([&] { return step_of(state) >= 8; }), "no checkpoint appeared: " << run.err());
        run.signal(SIGKILL);
        BOOST_TEST(run.wait() == -SIGKILL);
    }
    BOOST_REQUIRE_MESSAGE(!fs::exists(s / "killed"), "the run ended before it was killed");
    const int saved = step_of(state);
    BOOST_TEST(saved % 4 == 0);
    // The checkpoint state.json names is complete; older ones are removed (a kill between
    // writing a new one and naming it in state.json may leave that one too).
    BOOST_TEST(fs::exists(s / "killed.ckpt" / ("step_" + std::to_string(saved)) / "optimizer.safetensors"));
    BOOST_TEST(step_dirs(s / "killed.ckpt") <= 2u);

    const Run resumed = tokclean(train_args(s, "killed") + " --checkpoint-every 4 --resume", s);
    BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    BOOST_TEST(resumed.err.find("resuming at step " + std::to_string(saved) + "/400") != std::string::npos, resumed.err);
    BOOST_TEST(slurp(s / "killed" / "model.safetensors") == slurp(s / "whole" / "model.safetensors"));
    BOOST_TEST(json::parse(resumed.out)["last_loss"] == json::parse(whole.out)["last_loss"]);
    BOOST_TEST(!fs::exists(s / "killed.ckpt"));  // removed once the model is written
}

BOOST_AUTO_TEST_CASE(train_stopped_by_sigterm_then_sigint_resumes_to_the_same_model) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 12, 40);
    const Run whole = tokclean("--quiet " + train_args(s, "whole"), s);
    BOOST_REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);

    // No --checkpoint-every: the checkpoint comes from the signal alone. The progress line
    // of step 1 shows the run is in its loop.
    const fs::path ckpt = s / "stopped.ckpt";
    const std::string dir = ckpt.string();
    int last_step = 0;
    for (const int sig : {SIGTERM, SIGINT}) {
        BOOST_TEST_CONTEXT(strsignal(sig)) {
            Background run(train_args(s, "stopped") + (last_step ? " --resume" : ""), s);
            const std::string first = "train: " + std::to_string(last_step + 1) + "/400 steps";
            BOOST_REQUIRE_MESSAGE(run.wait_for([&] { return run.err().find(first) != std::string::npos; }),
                                  "no progress: " << run.err());
            run.signal(sig);
            BOOST_TEST(run.wait() == 128 + sig);
            const std::string err = run.err();
            const std::string last = err.substr(err.rfind('\n', err.size() - 2) + 1);
            BOOST_TEST(last.starts_with(std::string("tokclean: interrupted: train: ") +
                                        (sig == SIGTERM ? "SIGTERM" : "SIGINT") + " at step "),
                       err);
            BOOST_TEST(last.find("; checkpoint saved in " + dir + ": run the same command with --resume to continue") !=
                           std::string::npos,
                       last);
            BOOST_REQUIRE(!fs::exists(s / "stopped"));
            const int step = step_of(ckpt / "state.json");
            BOOST_TEST(step > last_step);
            BOOST_TEST(last.find("at step " + std::to_string(step) + "/400;") != std::string::npos, last);
            last_step = step;
        }
    }
    const Run resumed = tokclean("--quiet " + train_args(s, "stopped") + " --resume", s);
    BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    BOOST_TEST(slurp(s / "stopped" / "model.safetensors") == slurp(s / "whole" / "model.safetensors"));
    BOOST_TEST(!fs::exists(ckpt));
}

BOOST_AUTO_TEST_CASE(evolve_stopped_by_sigterm_keeps_its_chunks_and_resumes_to_the_same_result) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 13, 90);
    const std::string args = "evolve --base " + (fixtures / "model").string() + " --data " + s.str("pool.jsonl") +
                             " --chunks 3 --epochs 20 --batch-size 4 --lr 1e-3 --with-scores";
    const Run whole = tokclean("--quiet " + args + " --out " + s.str("whole"), s);
    BOOST_REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);

    const fs::path progress = s / "stopped.work" / "progress.json";
    {
        Background run(args + " --out " + s.str("stopped"), s);
        BOOST_REQUIRE_MESSAGE(run.wait_for([&] { return fs::exists(progress); }), "no chunk finished: " << run.err());
        run.signal(SIGTERM);
        BOOST_TEST(run.wait() == 128 + SIGTERM);
        const std::string err = run.err();
        BOOST_TEST(err.find("tokclean: interrupted: evolve: SIGTERM in chunk ") != std::string::npos, err);
        BOOST_TEST(err.find("; the finished chunks are kept in " + s.str("stopped.work") +
                            ": run the same command again to continue") != std::string::npos,
                   err);
    }
    BOOST_REQUIRE_MESSAGE(!fs::exists(s / "stopped"), "the run ended before it was stopped");
    // Every flag that changes the result is part of what a rerun must share, --select-batch
    // too (it used to be left out of evolve's fingerprint): another value is refused.
    const Run other = tokclean("--quiet " + args + " --select-batch 3 --out " + s.str("stopped"), s);
    expect_failure(other, {"stopped.work/progress.json: the work directory belongs to a run with other inputs or settings "
                           "(--select-batch 8 there, 3 here)"},
                   {});
    const Run resumed = tokclean(args + " --out " + s.str("stopped"), s);
    BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    BOOST_TEST(resumed.err.find("resuming after chunk") != std::string::npos, resumed.err);
    BOOST_TEST(slurp(s / "stopped" / "model.safetensors") == slurp(s / "whole" / "model.safetensors"));
    BOOST_TEST(slurp(s / "stopped" / "cleaned.jsonl") == slurp(s / "whole" / "cleaned.jsonl"));
    BOOST_TEST(!fs::exists(s / "stopped.work"));
}
