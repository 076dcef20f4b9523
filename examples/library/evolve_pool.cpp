// Self-evolving cleaning from the library: the reference keeps learning, chunk by chunk.
//
//   evolve_pool BASE_DIR POOL.jsonl OUT_DIR
//
// The pool splits into 3 chunks: the base is fine-tuned on chunk 0 into θ_1; each later chunk
// is scored with (base, θ_t), cleaned within itself, and trained on into θ_{t+1}. run() passes
// each cleaned chunk to the sink and returns θ_3, saved here with the base's config and
// tokenizer files. With work_dir set, a rerun after a crash continues after the last finished
// chunk.
#include <cstdio>

#include <tokclean/tokclean.hpp>

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 4) {
        std::fprintf(stderr, "usage: evolve_pool BASE_DIR POOL.jsonl OUT_DIR\n");
        return 2;
    }
    OpenedModel base_dir = open_model(argv[1]);
    const std::vector<Example> pool = read_examples(argv[2], base_dir.read_options()).examples;
    const std::unique_ptr<CausalLm<Cpu>> base = base_dir.take_model();

    SelfEvolving<> evolving;  // SelfEvolving<Cpu>
    evolving.chunks = 3;
    evolving.train.epochs = 2;
    evolving.train.batch_size = 4;
    evolving.train.lr = 1e-3;
    evolving.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    TokenCleaner<Cpu, LossDelta, GlobalTopK, SelfEvolving<>> cleaner(LossDelta{}, GlobalTopK{0.6}, evolving);

    CleanedSet all;
    const std::unique_ptr<CausalLm<Cpu>> final_model =
        cleaner.run(*base, pool, [&](std::size_t chunk, const CleanedSet& c) {
            std::printf("chunk %zu: kept %lld of %lld\n", chunk, static_cast<long long>(c.kept),
                        static_cast<long long>(c.targets));
            append(all, c);
        });
    base_dir.save(argv[3], *final_model);  // config, weights, tokenizer files
    save_cleaned(std::filesystem::path(argv[3]) / "cleaned.jsonl", all);
    std::printf("cleaned %zu examples\n", all.examples.size());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "evolve_pool: %s\n", e.what());
    return 1;
}
