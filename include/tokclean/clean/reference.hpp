#pragma once
// Reference strategies without an evolving model: NoReference (single-model scorers) and
// FixedReference (the paper's fixed-model cleaning: one warm-up reference scores the whole
// pool, selection is over the whole pool). See token_cleaner.hpp for the contract.
#include <span>

#include "tokclean/clean/token_cleaner.hpp"

namespace tokclean {

// No reference model: for single-model Scorers (BaseLoss, BaseEntropy). Like every reference
// strategy, a template on the device its models live on: NoReference<> (or NoReference<Cpu>),
// FixedReference<Cuda>, SelfEvolving<>.
template <Device D = Cpu>
struct NoReference {
    using device_type = D;
    static constexpr bool provides_reference = false;

    template <class Cleaner>
    void run(const Cleaner& cleaner, CausalLm<D>& base, std::span<const Example> pool, const ChunkSink& sink) {
        sink(0, cleaner.clean_set(base, nullptr, pool));
    }
};

// One fixed reference model (the base fine-tuned on a warm-up set) scores the whole pool.
template <Device D = Cpu>
struct FixedReference {
    using device_type = D;
    static constexpr bool provides_reference = true;

    CausalLm<D>* model = nullptr;  // not owned

    template <class Cleaner>
    void run(const Cleaner& cleaner, CausalLm<D>& base, std::span<const Example> pool, const ChunkSink& sink) {
        if (!model) fail("FixedReference: no reference model was given");
        if (const ShapeDifference d = base.shape_difference(*model))
            fail("the reference model's shape differs from the base model's (config.json field '", d.field, "': ",
                 d.other, " vs ", d.mine, ")");
        sink(0, cleaner.clean_set(base, model, pool));
    }
};

}  // namespace tokclean
