#pragma once
// The self-evolving reference (the paper's self-evolving cleaning; README, "The method"): the pool is split in order into T+1 chunks
// D_0..D_T (equal sizes, the remainder joins the last one: nothing is dropped). θ_1 is the
// base fine-tuned on D_0 with every target; for t = 1..T, D_t is scored with
// (θ_base, θ_t) — the base stays the ORIGINAL model — cleaned within D_t, and θ_t is
// fine-tuned on the cleaned D_t into θ_{t+1}, the next reference. run() returns θ_{T+1} (a
// model of the base's architecture).
//
// With a work directory the run is resumable: after each chunk t it writes the cleaned chunk
// (chunk_<t>.jsonl), the next reference (model_<t+1>/), then progress.json; a restarted run
// with the same fingerprint continues after the last finished chunk and, on CPU, ends with
// the same model bit for bit (each chunk's training depends only on θ_t, D_t and seed + t).
// The finished chunks are read back (checked line by line against the pool) and passed to the
// sink like the new ones, so a resumed run's sink sees every chunk. The work directory is an
// OwnedDirectory: created and marked by tokclean, locked while the run lasts, and refused if it
// holds anything else; remove_work_dir() deletes only what tokclean wrote there.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/clean/token_cleaner.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/owned_directory.hpp"
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/lora_model.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean {

// [begin, end) of chunk t of n examples split into `chunks` in order; the last takes the rest.
inline std::pair<std::size_t, std::size_t> chunk_range(std::size_t n, std::size_t chunks, std::size_t t) {
    const std::size_t size = n / chunks;
    return {t * size, t + 1 == chunks ? n : (t + 1) * size};
}

template <Device D = Cpu>
struct SelfEvolving {
    using device_type = D;
    static constexpr bool provides_reference = true;

    std::size_t chunks = 5;                 // T + 1
    TrainOptions train;                     // each chunk's fine-tuning (seed + t per chunk)
    const CausalLm<D>* warmup = nullptr;    // given: its weights are θ_1, and the pool splits into T chunks only
    const CausalLm<D>* start = nullptr;     // without warmup: θ_0 to train on chunk 0 (a new LoRA adapter
                                            // on the base, say); null: a copy of the base
    std::filesystem::path work_dir;         // empty: no checkpoints
    std::string fingerprint;                // what a resumed run must match (inputs, settings)
    std::function<void(const std::string&)> log = {};
    // Called as chunk t (the paper's index) begins, and after each training step of a chunk
    // (progress; an exception thrown here stops the run, keeping the finished chunks).
    std::function<void(std::size_t t)> on_chunk = {};
    std::function<void(const TrainStep&)> on_train_step = {};

    template <class Cleaner>
    std::unique_ptr<CausalLm<D>> run(const Cleaner& cleaner, CausalLm<D>& base, std::span<const Example> pool,
                     const ChunkSink& sink) {
        const std::size_t parts = warmup ? chunks - 1 : chunks;  // chunks of the pool
        if (chunks < 2) fail("chunks: self-evolving cleaning needs at least 2 chunks, got ", chunks);
        if (pool.size() < parts)
            fail("a pool of ", pool.size(), " examples cannot be split into ", parts, " chunks");

        std::size_t done = 0;  // pool chunks finished (resumed from work_dir)
        // θ_0: a copy of the warm-up model, of `start`, or of the base. An adapter (LoRA) makes
        // each θ_t an adapter on the original base, continued from θ_{t-1}'s.
        const CausalLm<D>& first = warmup ? *warmup : start ? *start : base;
        std::unique_ptr<CausalLm<D>> current = first.with_params(first.flat_params().clone());
        // The work directory is locked while run() lasts (however it ends).
        struct Unlock {
            std::shared_ptr<OwnedDirectory>& work;
            ~Unlock() {
                if (work) work->close();
            }
        } unlock{work_};
        if (!work_dir.empty()) {
            work_ = std::make_shared<OwnedDirectory>(work_dir, "evolve-work", "work directory", is_work_entry,
                                                     [](const std::filesystem::path& d) {
                                                         std::error_code ec;
                                                         return std::filesystem::exists(d / "progress.json", ec);
                                                     });
            done = resume(*current);
        }

        for (std::size_t c = 0; c < parts; ++c) {
            const auto [b, e] = chunk_range(pool.size(), parts, c);
            const std::span<const Example> chunk = pool.subspan(b, e - b);
            const std::size_t t = warmup ? c + 1 : c;  // the paper's chunk index
            if (c < done) {  // finished by an earlier run: read back, as it was
                sink(c, t == 0 ? pass_through(chunk) : read_finished_chunk(c, chunk));
                continue;
            }
            if (on_chunk) on_chunk(t);
            CleanedSet cleaned = t == 0 ? pass_through(chunk) : cleaner.clean_set(base, current.get(), chunk);
            say("chunk " + std::to_string(t) + " (examples " + std::to_string(b) + ".." + std::to_string(e) +
                "): kept " + std::to_string(cleaned.kept) + " of " + std::to_string(cleaned.targets) +
                " targets; training θ_" + std::to_string(t) + " -> θ_" + std::to_string(t + 1));
            TrainOptions opt = train;
            opt.seed = train.seed + t;
            tokclean::train(*current, std::span<const Example>(cleaned.examples), opt, on_train_step);
            if (!work_dir.empty()) checkpoint(c, cleaned, *current);
            sink(c, cleaned);
        }
        return current;
    }

    // Cleaned chunk c's file in work_dir.
    std::filesystem::path chunk_file(std::size_t c) const {
        return work_dir / ("chunk_" + std::to_string(c) + ".jsonl");
    }

    // Once the caller has saved what it needs of the run: deletes what tokclean wrote in the
    // work directory (and the directory, if tokclean made it and nothing else is there).
    // Error if another run has taken the directory since.
    void remove_work_dir() {
        if (work_) work_->remove_contents();
        work_.reset();
    }

    // The entries a work directory holds: progress.json, chunk_<c>.jsonl, model_<k>/, the
    // cleaned.jsonl of earlier versions, and their temporaries.
    static bool is_work_entry(std::string_view name) {
        if (name.starts_with('.')) name.remove_prefix(1);
        return name.starts_with("progress.json") || name.starts_with("chunk_") || name.starts_with("model_") ||
               name.starts_with("cleaned.jsonl");
    }

private:
    void say(const std::string& line) const {
        if (log) log(line);
    }
    std::filesystem::path model_dir(std::size_t done) const {
        return work_dir / ("model_" + std::to_string(done));
    }
    std::filesystem::path progress_file() const { return work_dir / "progress.json"; }

    // " (the work directory is damaged: remove it, or name another one, to start afresh)"
    std::string damaged() const {
        return " (the work directory " + work_dir.string() +
               " is damaged: remove it, or name another one, to start afresh)";
    }

    // Finished chunk c read back from its file, checked against the pool's chunk: the same
    // tokens, labels only dropped (never added), a score on each target of the pool.
    CleanedSet read_finished_chunk(std::size_t c, std::span<const Example> chunk) const {
        const std::filesystem::path file = chunk_file(c);
        CleanedSet set;
        try {
            set = read_cleaned_file(file, base_vocab_);
        } catch (const Error& e) {
            fail(e.what(), damaged());
        }
        if (set.examples.size() != chunk.size())
            fail(file.string(), ": ", set.examples.size(), " examples for a chunk of ", chunk.size(), damaged());
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            const Example& got = set.examples[i];
            const Example& want = chunk[i];
            bool same = got.input_ids == want.input_ids;
            for (std::size_t j = 0; same && j < want.size(); ++j) {
                const bool target = j > 0 && want.labels[j] != ignore_label;
                same = (got.labels[j] == want.labels[j] || (target && got.labels[j] == ignore_label)) &&
                       (!target || !std::isnan(set.scores[i][j]));
            }
            if (!same)
                fail(file.string(), ":", got.line, ": does not match example ", i, " of the chunk (line ", want.line,
                     " of the data)", damaged());
        }
        return set;
    }

    // " (--keep 0.6 there, 0.5 here)" for two fingerprints that are JSON objects of settings
    // (the program's), naming the first setting that differs; "" otherwise.
    static std::string first_difference(const std::string& saved, const std::string& now) {
        const auto a = nlohmann::json::parse(saved, nullptr, false), b = nlohmann::json::parse(now, nullptr, false);
        if (!a.is_object() || !b.is_object()) return {};
        const auto show = [](const nlohmann::json& v) {
            std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return s.size() > 40 ? s.substr(0, 37) + "..." : s;
        };
        for (const auto& [key, value] : b.items()) {
            const auto it = a.find(key);
            if (it == a.end()) return " (" + key + " is not set there, " + show(value) + " here)";
            if (*it != value) return " (" + key + " " + show(*it) + " there, " + show(value) + " here)";
        }
        for (const auto& [key, value] : a.items())
            if (!b.contains(key)) return " (" + key + " " + show(value) + " there, not set here)";
        return {};
    }

    // Loads the reference after the last finished chunk; returns how many chunks are done.
    std::size_t resume(CausalLm<D>& current) {
        base_vocab_ = current.info().vocab_size;
        std::error_code ec;
        if (!std::filesystem::exists(progress_file(), ec)) return 0;
        nlohmann::json j;
        try {
            j = read_json_file(progress_file());
        } catch (const Error&) {
            fail(progress_file().string(), ": not valid JSON (remove the work directory to start afresh)");
        }
        const auto fp = j.is_object() ? j.find("fingerprint") : j.end();
        const auto cd = j.is_object() ? j.find("chunks_done") : j.end();
        if (fp == j.end() || cd == j.end() || !fp->is_string() || !cd->is_number_unsigned() ||
            cd->get<std::size_t>() > chunks)
            fail(progress_file().string(), ": expected {\"fingerprint\": string, \"chunks_done\": 0..", chunks,
                 "} (remove the work directory to start afresh)");
        if (fp->get_ref<const std::string&>() != fingerprint)
            fail(progress_file().string(), ": the work directory belongs to a run with other inputs or settings",
                 first_difference(fp->get_ref<const std::string&>(), fingerprint),
                 " (use another work directory, or the same settings and data)");
        const auto done = cd->get<std::size_t>();
        if (done == 0) return 0;
        const Tensor<float, Cpu> weights = [&] {
            try {
                return read_saved_params(current, model_dir(done));
            } catch (const Error& e) {
                fail(e.what(), damaged());
            }
        }();
        if (weights.numel() != current.flat_params().numel())
            fail(model_dir(done).string(), ": ", weights.numel(), " parameters for a model of ",
                 current.flat_params().numel(), damaged());
        if constexpr (std::is_same_v<D, Cpu>) std::copy(weights.span().begin(), weights.span().end(),
                                                       current.flat_params().span().begin());
        else current.flat_params() = copy_to(D{}, weights);
        say("resuming after chunk " + std::to_string(done - 1) + " from " + model_dir(done).string());
        return done;
    }

    // Chunk file, then the next reference, then progress: a crash between any two leaves the
    // previous progress valid (its model directory is removed only afterwards).
    void checkpoint(std::size_t c, const CleanedSet& cleaned, const CausalLm<D>& current) const {
        {
            AtomicFile out(chunk_file(c));
            for (std::size_t i = 0; i < cleaned.examples.size(); ++i)
                out.write(cleaned_jsonl_line(cleaned.examples[i], cleaned.scores[i], true));
            out.commit();
        }
        {
            AtomicDirectory out(model_dir(c + 1));
            current.save(out);
        }
        {
            AtomicFile out(progress_file());
            out.write(nlohmann::json{{"fingerprint", fingerprint}, {"chunks_done", c + 1}}.dump() + "\n");
            out.commit();
        }
        std::error_code ec;
        std::filesystem::remove_all(model_dir(c), ec);
    }

    std::shared_ptr<OwnedDirectory> work_;  // from run(), locked while it runs, until remove_work_dir()
    std::int32_t base_vocab_ = 0;           // for reading finished chunks back
};

}  // namespace tokclean
