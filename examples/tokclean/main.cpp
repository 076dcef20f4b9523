// The tokclean command-line program: each verb's flags live beside its settings struct in
// cmd_*.hpp (each_flag), and its work in a run_* function there, a thin layer over the
// library: check paths, open outputs, load, call, write atomically. Errors are one line on
// stderr; exit status 1 for bad input or settings, 2 for a bad command line.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iterator>
#include <new>

#include "cmd_clean.hpp"
#include "cmd_demo.hpp"
#include "cmd_model.hpp"
#include "cmd_report.hpp"
#include "help.hpp"
#include "tokclean/core/threads.hpp"
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
#include "cuda_plugin.hpp"
#endif

using namespace tokclean;
using namespace tokclean::cli;

namespace {

// The GPU verbs when `verb` runs on the GPU, else nullptr: --device cuda (an error where it
// cannot), --device cpu, or by default the GPU when this program has the GPU plugin, a device
// is present and the verb has a GPU path (train, score, eval, clean). Only a verb bound for
// the GPU loads the plugin, and without the NVIDIA driver the default does not even try.
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
const CudaVerbs* gpu_verbs(const GlobalFlags& g, const char* verb, bool has_gpu_path) {
    if (g.device == "cpu") return nullptr;
    std::string why;
    if (g.device.empty()) {
        if (!has_gpu_path || !cuda_driver_present()) return nullptr;
        const CudaVerbs* verbs = load_cuda_plugin(why);
        if (!verbs) log(g, "warning: " + why + "; running on the CPU");
        return verbs && verbs->available() ? verbs : nullptr;
    }
    if (!has_gpu_path) fail("--device cuda: '", verb, "' runs on the CPU only (use --device cpu)");
    const CudaVerbs* verbs = load_cuda_plugin(why);
    if (!verbs) fail("--device cuda: ", why);
    if (!verbs->available()) fail("--device cuda: no CUDA device is available (cudaGetDeviceCount)");
    return verbs;
}
#else
const void* gpu_verbs(const GlobalFlags& g, const char*, bool) {
    if (g.device.empty() || g.device == "cpu") return nullptr;
    fail("--device cuda: this tokclean was built without the GPU backend (configure where nvcc, cuBLAS and cuDNN "
         "are found)");
}
#endif

// A command-line error as one line, exit status 2 (help and version: their text, status 0).
int command_line_error(const CLI::App& app, const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << "tokclean: error: " << what << " (tokclean --help lists the verbs, tokclean VERB --help their flags)\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tokclean: token cleaning for supervised fine-tuning data"};
    app.require_subcommand(1);
    app.fallthrough();
    GlobalFlags g;
    add_flags(&app, g);

    InitFlags init;
    TrainFlags train;
    ScoreFlags score;
    TokenizeFlags tokenize;
    CleanFlags clean;
    SelectVerbFlags select;
    EvolveFlags evolve;
    EvalFlags eval;
    GenerateFlags generate;
    MergeFlags merge;
    ReportFlags report;
    DemoFlags demo;
    CLI::App* const init_cmd = add_verb(app, init);
    CLI::App* const train_cmd = add_verb(app, train);
    CLI::App* const score_cmd = add_verb(app, score);
    CLI::App* const tokenize_cmd = add_verb(app, tokenize);
    CLI::App* const clean_cmd = add_verb(app, clean);
    CLI::App* const select_cmd = add_verb(app, select);
    CLI::App* const evolve_cmd = add_verb(app, evolve);
    CLI::App* const eval_cmd = add_verb(app, eval);
    CLI::App* const generate_cmd = add_verb(app, generate);
    CLI::App* const merge_cmd = add_verb(app, merge);
    CLI::App* const report_cmd = add_verb(app, report);
    CLI::App* const demo_cmd = add_verb(app, demo);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return command_line_error(app, e);
    }
    try {
        set_cpu_threads(g.threads);
        // The GPU verbs when --device says so (or by default, see gpu_verbs); everything else on the CPU.
        CLI::App* const gpu_cmds[] = {train_cmd, score_cmd, eval_cmd, clean_cmd};
        const auto* verb = app.get_subcommands().front();
        const auto* gpu = gpu_verbs(g, verb->get_name().c_str(),
                                    std::find(std::begin(gpu_cmds), std::end(gpu_cmds), verb) != std::end(gpu_cmds));
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
        if (gpu) {
            gpu->set_math(g.cuda_math);
            if (*train_cmd) gpu->train(g, train);
            else if (*score_cmd) gpu->score(g, score);
            else if (*eval_cmd) gpu->eval(g, eval);
            else if (*clean_cmd) gpu->clean(g, clean);
            return 0;
        }
#endif
        (void)gpu;
        if (*init_cmd) run_init(g, init);
        else if (*train_cmd) run_train(g, train);
        else if (*score_cmd) run_score(g, score);
        else if (*tokenize_cmd) run_tokenize(g, tokenize);
        else if (*clean_cmd) run_clean(g, clean);
        else if (*select_cmd) run_select(g, select);
        else if (*evolve_cmd) run_evolve(g, evolve);
        else if (*eval_cmd) run_eval(g, eval);
        else if (*generate_cmd) run_generate(g, generate);
        else if (*merge_cmd) run_merge(g, merge);
        else if (*report_cmd) run_report(g, report);
        else if (*demo_cmd) run_demo(g, demo);
    } catch (const Interrupted& e) {  // SIGINT/SIGTERM: what could be saved is saved
        std::cerr << "tokclean: interrupted: " << e.what() << '\n';
        return e.exit_code();
    } catch (const std::bad_alloc&) {
        std::cerr << "tokclean: error: out of memory (a model or data set too large for this machine's memory)\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "tokclean: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
