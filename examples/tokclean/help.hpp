#pragma once
// The part of each verb's --help that CLI11 cannot derive from the options: an example, what
// is written where, and the exit status. Attached by verb name, so a verb without an entry
// keeps CLI11's plain help.
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace tokclean::cli {

inline const char* help_common =
    "\nData: JSONL, one example per line: {\"text\"}, {\"prompt\", \"completion\"}, {\"messages\": [{\"role\", "
    "\"content\"}]} or {\"input_ids\", \"labels\"} (label -100 = not a target). Text must be UTF-8.\n"
    "Global flags (before or after the verb): --quiet (no progress on stderr), --threads N.\n"
    "Results: one JSON line on stdout. Progress and warnings: stderr (a bar on a terminal, plain lines otherwise).\n"
    "Exit status: 0 done; 1 bad input or settings (one line on stderr names the file, line and field; no output is\n"
    "left behind); 2 bad command line; 130/143 stopped by SIGINT/SIGTERM.\n";

inline void add_help_footers(CLI::App& app) {
    const std::map<std::string, std::string> footers = {
        {"init",
         "\nExample:\n  tokclean init --out base --layers 4 --heads 4 --embd 256 --positions 256 --tokenizer byte\n"
         "  tokclean init --out base --tokenizer gpt2-files/    # vocab.json + merges.txt or tokenizer.json\n"
         "Writes a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files).\n"},
        {"train",
         "\nExamples:\n  tokclean train --model base --data sft.jsonl --out tuned --epochs 1 --lr 1e-4 --warmup-ratio 0.03\n"
         "  tokclean train --model base --data sft.jsonl --out tuned --checkpoint-every 200   # then, after a crash:\n"
         "  tokclean train --model base --data sft.jsonl --out tuned --checkpoint-every 200 --resume\n"
         "Checkpoints (weights, AdamW moments, step, data position, shuffling RNG) go to OUT.ckpt (--checkpoint-dir)\n"
         "every N steps and on SIGINT/SIGTERM, which then exit with 130/143. --resume continues the same run (same\n"
         "data and flags) and ends with the same model, bit for bit, as a run never stopped; the checkpoint is\n"
         "removed once OUT is written. A second Ctrl-C stops at once (the last checkpoint stays usable).\n"},
        {"score",
         "\nExample:\n  tokclean score --model base --data sft.jsonl --out losses.jsonl\n"
         "Writes {\"losses\": [null, 1.23, ...]} per example: entry j is the loss of token j (null: not a target).\n"},
        {"tokenize",
         "\nExample:\n  tokclean tokenize --model base --data chat.jsonl --out tokens.jsonl\n"
         "Writes {\"input_ids\", \"labels\"} per example, the form every other verb and Hugging Face trainers read.\n"},
        {"clean",
         "\nExample:\n  tokclean clean --base base --ref warmed-up --data pool.jsonl --out cleaned.jsonl --keep 0.6\n"
         "Scores each target token by L_base - L_ref and keeps the best; dropped targets get label -100 (the\n"
         "tokens stay in input_ids). --ref must have the base model's shape and tokenizer.\n"},
        {"evolve",
         "\nExample:\n  tokclean evolve --base base --data pool.jsonl --out evolved --chunks 5 --keep 0.6 --epochs 1\n"
         "Self-evolving cleaning: chunk by chunk, the reference is the model trained on the cleaned chunks so far.\n"
         "Each finished chunk is saved in OUT.work (--work); after a crash or SIGINT/SIGTERM, rerunning the same\n"
         "command continues after the last finished chunk and ends with the same result.\n"},
        {"eval",
         "\nExample:\n  tokclean eval --model tuned --data test.jsonl\n"
         "Prints {\"loss\", \"token_accuracy\", \"exact_match\", \"sampled_exact_match\", \"examples\", \"tokens\"}\n"
         "for the target tokens (teacher forcing): token_accuracy = share of targets that are the argmax,\n"
         "exact_match = share of examples whose targets all are (greedy decoding gets them right),\n"
         "sampled_exact_match = mean P(all targets of an example) (what sampling at temperature 1 gets right).\n"},
        {"generate", "\nExample:\n  tokclean generate --model tuned --prompt 'Q: 2+2?\\nA:' --max-new-tokens 16\n"},
    };
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        const auto it = footers.find(sub->get_name());
        if (it != footers.end()) sub->footer(it->second + help_common);
    }
}

}  // namespace tokclean::cli
