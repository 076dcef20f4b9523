// The consumer translation unit that bench/compile_time.sh compiles: fixed-model cleaning as a
// downstream program writes it (README, "The library"). Loads a base and a reference model
// directory, reads a JSONL pool, keeps the global top 60% of the target tokens by
// L_base - L_ref and writes the cleaned set with its scores.
//
//   clean_consumer BASE_DIR REF_DIR DATA.jsonl OUT.jsonl
//
// TOKCLEAN_CONSUMER_HEADER names the header it includes (default: the umbrella), so that one
// file measures the umbrella and the focused header. Without TOKCLEAN_CONSUMER_OPEN_MODEL the
// data is pre-tokenized, or text for a model with the byte tokenizer (load_model_dir); with it,
// nn/open_model.hpp opens each directory with whatever tokenizer it declares (GPT-2 BPE too).
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#ifndef TOKCLEAN_CONSUMER_HEADER
#define TOKCLEAN_CONSUMER_HEADER <tokclean/tokclean.hpp>
#endif
#include TOKCLEAN_CONSUMER_HEADER
#ifdef TOKCLEAN_CONSUMER_OPEN_MODEL
#include <tokclean/nn/open_model.hpp>
#endif

int main(int argc, char** argv) try {
    using namespace tokclean;
    if (argc != 5) {
        std::fprintf(stderr, "usage: clean_consumer BASE_DIR REF_DIR DATA.jsonl OUT.jsonl\n");
        return 2;
    }
#ifdef TOKCLEAN_CONSUMER_OPEN_MODEL
    OpenedModel base_dir = open_model(argv[1]), ref_dir = open_model(argv[2]);
    const std::vector<Example> pool = read_examples(argv[3], base_dir.read_options()).examples;
    const std::unique_ptr<CausalLm<Cpu>> base_model = base_dir.take_model(), ref_model = ref_dir.take_model();
    CausalLm<Cpu>& base = *base_model;
    CausalLm<Cpu>& ref = *ref_model;
#else
    LoadedModel b = load_model_dir(argv[1]), r = load_model_dir(argv[2]);
    std::optional<ByteTokenizer> bytes;
    if (b.config.tokenizer == "byte") bytes.emplace(ByteTokenizer::from_config(b.config));
    ReadOptions ro;
    ro.vocab_size = b.config.vocab_size;
    ro.max_len = static_cast<std::size_t>(b.config.n_positions);
    if (bytes) ro.tokenizer = &*bytes;
    const std::vector<Example> pool = read_examples(argv[3], ro).examples;
    Gpt<Cpu> base(b.config, std::move(b.params)), ref(r.config, std::move(r.params));
#endif
    TokenCleaner<Cpu, LossDelta, GlobalTopK, FixedReference<Cpu>> cleaner(
        LossDelta{}, GlobalTopK{0.6}, FixedReference<Cpu>{&ref});
    const CleanedSet cleaned = cleaner.clean(base, pool);
    save_cleaned(argv[4], cleaned, /*with_scores=*/true);
    std::printf("clean_consumer: kept %lld of %lld target tokens\n", static_cast<long long>(cleaned.kept),
                static_cast<long long>(cleaned.targets));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "clean_consumer: error: %s\n", e.what());
    return 1;
}
