#pragma once
// Checkpoints of a training run, to continue it after an interruption and end with the same
// model, bit for bit, as a run that was never stopped (on CPU). A checkpoint is a directory:
//   state.json                  {"format": "tokclean-train-checkpoint", "version": 1,
//                                "step", "total_steps", "weights": "step_<k>", "adam_step",
//                                "schedule": {"step", "epoch", "pos", "epoch_rng"},
//                                "report": {...}, "settings": {...}}
//   step_<k>/config.json        the weights after step k: a model directory that
//   step_<k>/model.safetensors  load_model_dir (and transformers) read
//   step_<k>/optimizer.safetensors   AdamW's moments "exp_avg", "exp_avg_sq" (F32, [N])
// "settings" records what the run depends on (input fingerprints, options): a checkpoint
// only continues a run with the same settings, and the error names the first that differs.
// save() writes step_<k>/ (as a whole), then state.json (atomically), then removes the older
// step_* directories: a crash at any moment leaves state.json naming a complete directory.
// The directory is an OwnedDirectory: created and marked by tokclean, locked while a run
// uses it, and never one that holds anything else (the working directory, a model, the
// output): such a directory is refused when the checkpoint is opened, before any training.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/owned_directory.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/lora_model.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean {

inline constexpr std::string_view train_checkpoint_format = "tokclean-train-checkpoint";
inline constexpr int train_checkpoint_version = 1;

class TrainCheckpoint {
public:
    // `settings`: a JSON object of what the run depends on, keyed by the name the user knows
    // (e.g. "--lr"); values are compared with ==. Opens (creates, checks, locks) `dir`.
    TrainCheckpoint(std::filesystem::path dir, nlohmann::json settings)
        : dir_(std::move(dir)), settings_(std::move(settings)) {
        if (dir_.filename().empty()) dir_ = dir_.parent_path();
        owned_ = OwnedDirectory(dir_, "train-checkpoint", "checkpoint directory", is_checkpoint_entry,
                                [](const std::filesystem::path& d) {
                                    std::error_code ec;
                                    return std::filesystem::exists(d / "state.json", ec);
                                });
    }
    TrainCheckpoint(TrainCheckpoint&&) noexcept = default;
    TrainCheckpoint& operator=(TrainCheckpoint&&) noexcept = default;
    // A checkpoint directory this run created and never saved into goes again.
    ~TrainCheckpoint() {
        if (owned_.is_open() && owned_.holds_nothing()) owned_.remove_contents();
    }

    // The entries a checkpoint directory holds: state.json, step_<k>/, and their temporaries.
    static bool is_checkpoint_entry(std::string_view name) {
        return name == "state.json" || name.starts_with(".state.json.") || name.starts_with("step_") ||
               name.starts_with(".step_");
    }

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path state_file() const { return dir_ / "state.json"; }
    bool exists() const {
        std::error_code ec;
        return std::filesystem::exists(state_file(), ec);
    }
    // The step a saved checkpoint is at (Error if state.json is unreadable).
    std::int64_t saved_step() const {
        const nlohmann::json j = read_state();
        return require_int64(j, "step", where());
    }

    // Saves the trainer's model, moments and state (from any device: a GPU's are copied to
    // the host first).
    template <class D>
    void save(Trainer<D>& t) {
        const TrainState s = t.state();
        const std::string weights = "step_" + std::to_string(s.step);
        if (weights == current_) return;  // nothing changed since it was saved or loaded
        {
            // The optimiser's moments, then the model (its own directory layout), as one
            // directory that appears whole.
            AtomicDirectory out(dir_ / weights);
            if constexpr (std::is_same_v<D, Cpu>) {
                write_moments(out.path(), t.optimizer().first_moment(), t.optimizer().second_moment());
            } else {
                write_moments(out.path(), copy_to(Cpu{}, t.optimizer().first_moment()),
                              copy_to(Cpu{}, t.optimizer().second_moment()));
            }
            t.model().save(out);
        }

        nlohmann::json rng = nlohmann::json::array();
        for (auto x : s.schedule.epoch_rng) rng.push_back(hex(x));
        nlohmann::json j;
        j["format"] = train_checkpoint_format;
        j["version"] = train_checkpoint_version;
        j["step"] = s.step;
        j["total_steps"] = t.total_steps();
        j["weights"] = weights;
        j["adam_step"] = s.adam_step;
        j["schedule"] = {{"step", s.schedule.step}, {"epoch", s.schedule.epoch}, {"pos", s.schedule.pos},
                         {"epoch_rng", rng}};
        j["report"] = {{"first_loss", loss_json(s.report.first_loss)}, {"last_loss", loss_json(s.report.last_loss)},
                       {"tokens", s.report.tokens}, {"seconds", s.report.seconds}};
        j["settings"] = settings_;
        AtomicFile out(state_file());
        out.write(j.dump(2) + "\n");
        out.commit();
        current_ = weights;
        remove_stale();
    }

    // Loads a saved checkpoint into the trainer (its model's weights, the moments, the
    // state), on any device. Errors name the file and what does not match this run.
    template <class D>
    void restore(Trainer<D>& trainer) {
        const nlohmann::json j = read_state();
        const JsonWhere w = where();
        if (const auto format = require_string(j, "format", w); format != train_checkpoint_format)
            fail(w.str(), ": field 'format': expected \"", train_checkpoint_format, "\", got ",
                 json_describe(nlohmann::json(format)));
        if (const auto v = require_int(j, "version", w); v != train_checkpoint_version)
            fail(w.str(), ": field 'version': ", v, " is not supported (this tokclean writes ",
                 train_checkpoint_version, ")");
        check_settings(require_field(j, "settings", w), w);
        const std::int64_t total = require_int64(j, "total_steps", w);
        if (total != trainer.total_steps())
            fail(w.str(), ": field 'total_steps': the checkpoint's run has ", total, " steps, this one ",
                 trainer.total_steps());

        TrainState s;
        s.step = json_to_int(require_field(j, "step", w), "'step'", w, 0, total);
        s.adam_step = json_to_int(require_field(j, "adam_step", w), "'adam_step'", w, 0);
        const auto& sched = require_field(j, "schedule", w);
        require_object(sched, JsonWhere{w.file + ": field 'schedule'", 0});
        const JsonWhere ws{w.file + ": field 'schedule'", 0};
        s.schedule.step = static_cast<std::size_t>(json_to_int(require_field(sched, "step", ws), "'step'", ws, 0));
        s.schedule.epoch = static_cast<std::size_t>(json_to_int(require_field(sched, "epoch", ws), "'epoch'", ws, 0));
        s.schedule.pos = static_cast<std::size_t>(json_to_int(require_field(sched, "pos", ws), "'pos'", ws, 0));
        const auto& rng = require_field(sched, "epoch_rng", ws);
        if (!rng.is_array() || rng.size() != 4)
            fail(ws.str(), ".epoch_rng: expected 4 hexadecimal strings, got ", json_describe(rng));
        for (std::size_t i = 0; i < 4; ++i) s.schedule.epoch_rng[i] = parse_hex(rng[i], ws);
        const auto& rep = require_field(j, "report", w);
        const JsonWhere wr{w.file + ": field 'report'", 0};
        require_object(rep, wr);
        s.report.steps = s.step;
        s.report.first_loss = loss_from(rep, "first_loss", wr);
        s.report.last_loss = loss_from(rep, "last_loss", wr);
        s.report.tokens = json_to_int(require_field(rep, "tokens", wr), "'tokens'", wr, 0);
        s.report.seconds = require_number(rep, "seconds", wr);

        const std::string weights = require_string(j, "weights", w);
        if (weights != "step_" + std::to_string(s.step))
            fail(w.str(), ": field 'weights': expected \"step_", s.step, "\", got ",
                 json_describe(nlohmann::json(weights)));
        const std::filesystem::path wdir = dir_ / weights;
        CausalLm<D>& model = trainer.model();
        // On the host: the adapter's parameters when training one (LoRA), else every weight.
        const Tensor<float, Cpu> weights_on_host = read_saved_params(model, wdir);
        const std::int64_t na = weights_on_host.numel(), nb = model.flat_params().numel();
        if (na != nb)
            fail(wdir.string(), ": the checkpoint holds ", na, " parameters, the model being trained ", nb);
        const SafetensorsFile opt(wdir / "optimizer.safetensors");
        // The moments are read on the host: in place on the CPU, into copies for a device.
        auto& d1 = trainer.optimizer().first_moment();
        auto& d2 = trainer.optimizer().second_moment();
        Tensor<float, Cpu> h1, h2;
        if constexpr (!std::is_same_v<D, Cpu>) {
            h1 = Tensor<float, Cpu>(Shape{d1.numel()});
            h2 = Tensor<float, Cpu>(Shape{d2.numel()});
        }
        Tensor<float, Cpu>& m1 = host_side(d1, h1);
        Tensor<float, Cpu>& m2 = host_side(d2, h2);
        for (const auto& moment : {std::pair<const char*, Tensor<float, Cpu>*>{"exp_avg", &m1}, {"exp_avg_sq", &m2}}) {
            const char* name = moment.first;
            Tensor<float, Cpu>* dst = moment.second;
            const auto& t = opt.tensor(name);
            if (t.dtype != Dtype::F32 || t.shape != std::vector<std::int64_t>{dst->numel()})
                fail(opt.where(), ": tensor '", name, "': expected F32 [", dst->numel(), "], got ",
                     dtype_name(t.dtype), " ", t.shape_str());
            opt.read_float(name, dst->span());
            const auto bad = std::find_if(dst->span().begin(), dst->span().end(), [&](float x) {
                return !std::isfinite(x) || (dst == &m2 && x < 0.0f);
            });
            if (bad != dst->span().end())
                fail(opt.where(), ": tensor '", name, "': element ", bad - dst->span().begin(), " is ", *bad,
                     dst == &m2 ? " (expected finite and >= 0)" : " (expected finite)");
        }
        if constexpr (std::is_same_v<D, Cpu>) {
            std::copy(weights_on_host.span().begin(), weights_on_host.span().end(), model.flat_params().span().begin());
        } else {
            model.flat_params() = copy_to(D{}, weights_on_host);
            d1 = copy_to(D{}, m1);
            d2 = copy_to(D{}, m2);
        }
        trainer.restore(s);
        current_ = weights;
    }

    // Removes the checkpoint (after the run has written its result): what tokclean wrote, and
    // the directory if tokclean made it and nothing else is in it.
    void remove() { owned_.remove_contents(); }

private:
    // The optimizer's moments, from host tensors, into `dir`.
    static void write_moments(const std::filesystem::path& dir, const Tensor<float, Cpu>& m1, const Tensor<float, Cpu>& m2) {
        const auto n = m1.numel();
        const SafetensorsEntry moments[] = {{"exp_avg", m1.data(), Shape{n}}, {"exp_avg_sq", m2.data(), Shape{n}}};
        save_safetensors(dir / "optimizer.safetensors", moments, {{"format", "tokclean"}});
    }
    // The host tensor a moment is read into: itself on the CPU, else the staging copy.
    static Tensor<float, Cpu>& host_side(Tensor<float, Cpu>& moment, Tensor<float, Cpu>&) { return moment; }
    template <class D>
    static Tensor<float, Cpu>& host_side(Tensor<float, D>&, Tensor<float, Cpu>& staging) {
        return staging;
    }

    JsonWhere where() const { return {state_file().string(), 0}; }

    nlohmann::json read_state() const {
        nlohmann::json j = read_json_file(state_file());
        require_object(j, where());
        return j;
    }

    void check_settings(const nlohmann::json& saved, const JsonWhere& w) const {
        require_object(saved, JsonWhere{w.file + ": field 'settings'", 0});
        for (const auto& [key, value] : settings_.items()) {
            const auto it = saved.find(key);
            if (it == saved.end() || *it != value)
                fail(w.str(), ": the checkpoint belongs to a run with ", key, " ",
                     it == saved.end() ? std::string("unset") : show(*it), ", this run has ", show(value),
                     " (use the same data and flags to continue it, or remove ", dir_.string(),
                     " to start afresh)");
        }
        for (const auto& item : saved.items())
            if (!settings_.contains(item.key()))
                fail(w.str(), ": the checkpoint belongs to a run with ", item.key(), " ", show(item.value()),
                     ", which this run does not set (remove ", dir_.string(), " to start afresh)");
    }
    static std::string show(const nlohmann::json& v) {
        std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return s.size() > 60 ? s.substr(0, 57) + "..." : s;
    }

    static std::string hex(std::uint64_t x) {
        char buf[17];
        const auto r = std::to_chars(buf, buf + 16, x, 16);
        return std::string(buf, r.ptr);
    }
    static std::uint64_t parse_hex(const nlohmann::json& v, const JsonWhere& w) {
        std::uint64_t x = 0;
        if (v.is_string()) {
            const auto& s = v.get_ref<const std::string&>();
            const auto r = std::from_chars(s.data(), s.data() + s.size(), x, 16);
            if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) return x;
        }
        fail(w.str(), ".epoch_rng: expected hexadecimal strings, got ", json_describe(v));
    }

    static nlohmann::json loss_json(float x) {
        return std::isfinite(x) ? nlohmann::json(static_cast<double>(x)) : nlohmann::json(nullptr);
    }
    static float loss_from(const nlohmann::json& obj, std::string_view field, const JsonWhere& w) {
        const auto& v = require_field(obj, field, w);
        if (v.is_null()) return std::numeric_limits<float>::quiet_NaN();
        return static_cast<float>(require_number(obj, field, w));
    }

    // Removes step_* directories other than the current one, and temporaries of a crash.
    void remove_stale() const {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
            const std::string name = e.path().filename().string();
            const bool step = name.starts_with("step_") || name.starts_with(".step_");
            if (step && name != current_) std::filesystem::remove_all(e.path(), ec);
        }
    }

    std::filesystem::path dir_;
    nlohmann::json settings_;
    OwnedDirectory owned_;
    std::string current_;  // the step_* directory state.json names
};

}  // namespace tokclean
