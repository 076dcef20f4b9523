#pragma once
// The part of each verb's --help that CLI11 cannot derive from the options: the verb's own
// footer (an example, what is written where; beside its flags in cmd_*.hpp) and this common
// part (data formats, global flags, results, exit status).
#include <string>

#include <CLI/CLI.hpp>

#include "flags.hpp"

namespace tokclean::cli {

inline const char* help_common =
    "\nData: JSONL, one example per line: {\"text\"}, {\"prompt\", \"completion\"}, {\"messages\": [{\"role\", "
    "\"content\"}]} or {\"input_ids\", \"labels\"} (label -100 = not a target). Text must be UTF-8.\n"
    "Global flags (before or after the verb): --quiet (no progress on stderr), --threads N.\n"
    "Results: one JSON line on stdout. Progress and warnings: stderr (a bar on a terminal, plain lines otherwise).\n"
    "Exit status: 0 done; 1 bad input or settings (one line on stderr names the file, line and field; no output is\n"
    "left behind); 2 bad command line; 130/143 stopped by SIGINT/SIGTERM.\n"
    "Outputs never replace inputs, and an existing directory is replaced only when it holds nothing but the files\n"
    "written anew (else --force writes into it and keeps its other files).\n";

// A verb's subcommand, with every flag its settings struct F declares (F::each_flag) and its
// help footer.
template <class F>
CLI::App* add_verb(CLI::App& app, F& flags) {
    CLI::App* cmd = app.add_subcommand(F::help.name, F::help.summary);
    add_flags(cmd, flags);
    if (std::string(F::help.footer).size() > 0) cmd->footer(std::string(F::help.footer) + help_common);
    return cmd;
}

}  // namespace tokclean::cli
