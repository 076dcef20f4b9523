// Fuzz target: the safetensors reader, then the GPT-2 parameter mapping of a tiny config.
// Input: the file's bytes. Checks: every tensor of an accepted file lies inside the data
// section with the byte size its shape and dtype need, readable tensors convert, and errors
// are one line naming the file.
#include <cmath>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/model_dir.hpp"

using namespace tokclean;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const SafetensorsFile file =
            SafetensorsFile::from_bytes({reinterpret_cast<const std::byte*>(data), size}, "fuzz.safetensors");
        std::uint64_t covered = 0;
        for (const auto& t : file.tensors()) {
            if (t.end < t.begin || t.end > size) fuzz::violated("tensor outside the file", t.name);
            covered += t.end - t.begin;
            if (file.bytes(t.name).size() != static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype))
                fuzz::violated("tensor bytes differ from shape x dtype", t.name);
            if (dtype_is_readable(t.dtype) && t.shape.size() <= 4 && t.numel() <= (1 << 20)) {
                try {
                    const auto f = file.to_float(t.name);
                    if (f.numel() != t.numel()) fuzz::violated("converted tensor of another size", t.name);
                } catch (const Error& e) {
                    fuzz::check_error(e, "fuzz.safetensors:");
                }
            }
        }
        if (covered + 8 > size) fuzz::violated("tensors cover more than the file");
        // The same bytes as a model.safetensors of a tiny GPT-2 (vocab 8, 4 positions, width 4).
        const GptConfig c = GptConfig::pretokenized(1, 2, 4, 8, 4);
        const GptParams<Cpu> p = gpt_params_from(file, c);
        for (float x : p.flat().span())
            if (!std::isfinite(x)) fuzz::violated("a non-finite weight was accepted");
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz.safetensors:");
    }
    return 0;
}
