// A downstream program built with plain -O2 (tests/consumer/plain_flags/CMakeLists.txt):
// fixed-model cleaning of a pre-tokenized pool, written as
// `tokclean clean --base BASE --ref REF --data POOL --out OUT --keep 0.6 --with-scores` writes it.
//
//   clean_plain BASE_DIR REF_DIR POOL.jsonl OUT.jsonl
#include <cstdio>
#include <fstream>
#include <vector>

#include <tokclean/tokclean.hpp>

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 5) {
        std::fprintf(stderr, "usage: clean_plain BASE_DIR REF_DIR POOL.jsonl OUT.jsonl\n");
        return 2;
    }
    LoadedModel b = load_model_dir(argv[1]), r = load_model_dir(argv[2]);
    ReadOptions options;
    options.vocab_size = b.config.vocab_size;
    options.max_len = static_cast<std::size_t>(b.config.n_positions);
    const std::vector<Example> pool = read_examples(argv[3], options).examples;
    Gpt<Cpu> base(b.config, std::move(b.params)), ref(r.config, std::move(r.params));

    TokenCleaner<Cpu, LossDelta, GlobalTopK, FixedReference<Cpu>> cleaner(LossDelta{}, GlobalTopK{0.6},
                                                                         FixedReference<Cpu>{&ref},
                                                                         /*batch_size=*/8);
    const CleanedSet cleaned = cleaner.clean(base, pool);
    std::ofstream out(argv[4], std::ios::binary);
    for (std::size_t i = 0; i < cleaned.examples.size(); ++i)
        out << cleaned_jsonl_line(cleaned.examples[i], cleaned.scores[i], /*with_scores=*/true);
    out.close();
    if (!out) throw std::runtime_error(std::string(argv[4]) + ": write failed");
    std::printf("clean_plain (%s kernels): kept %lld of %lld target tokens\n", cpu_kernels_name(cpu_kernels()),
                static_cast<long long>(cleaned.kept), static_cast<long long>(cleaned.targets));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "clean_plain: %s\n", e.what());
    return 1;
}
