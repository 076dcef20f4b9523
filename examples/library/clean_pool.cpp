// The library's common task in a few calls: fixed-model cleaning of a pool in any format.
//
//   clean_pool BASE_DIR REF_DIR POOL.jsonl OUT.jsonl
//
// Opens the base model and the reference (the base fine-tuned on a clean warm-up set), reads
// the pool with the base model's tokenizer, scores every target token by L_base − L_ref, keeps
// the global top 60%, and saves the cleaned pool with its scores: the bytes of
// `tokclean clean --base BASE --ref REF --data POOL --out OUT --keep 0.6 --with-scores`.
// Then it selects again from the recorded scores (keep 30%) without running a model.
#include <cstdio>

#include <tokclean/cleaning.hpp>

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 5) {
        std::fprintf(stderr, "usage: clean_pool BASE_DIR REF_DIR POOL.jsonl OUT.jsonl\n");
        return 2;
    }
    set_cpu_threads(0);  // 0 keeps the default: OMP_NUM_THREADS, or every core

    // A model directory in one call: config, weights, tokenizer.
    OpenedModel base_dir = open_model(argv[1]), ref_dir = open_model(argv[2]);
    const std::vector<Example> pool = read_examples(argv[3], base_dir.read_options()).examples;
    const std::unique_ptr<CausalLm<Cpu>> base = base_dir.take_model(), ref = ref_dir.take_model();

    TokenCleaner<Cpu, LossDelta, GlobalTopK, FixedReference<Cpu>> cleaner(LossDelta{}, GlobalTopK{0.6},
                                                                         FixedReference<Cpu>{ref.get()},
                                                                         /*batch_size=*/8);
    cleaner.set_progress([](std::size_t done, std::size_t total, std::int64_t /*tokens*/) {
        std::fprintf(stderr, "scored %zu of %zu examples\n", done, total);
    });
    const CleanedSet cleaned = cleaner.clean(*base, pool);
    save_cleaned(argv[4], cleaned, /*with_scores=*/true);
    std::printf("kept %lld of %lld target tokens\n", static_cast<long long>(cleaned.kept),
                static_cast<long long>(cleaned.targets));

    // Another keep fraction from the recorded scores: no model runs.
    const CleanedSet tighter = reselect(cleaned, GlobalTopK{0.3}, base_dir.info.eos_token_id, argv[4]);
    std::printf("at keep 0.3: kept %lld\n", static_cast<long long>(tighter.kept));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "clean_pool: %s\n", e.what());
    return 1;
}
