#!/usr/bin/env bash
# Compile time of a consumer of the headers: how long one translation unit takes to compile
# (g++ -std=c++20 -O2 -fopenmp, no -march: what a downstream project gets by default), with
# the umbrella tokclean/tokclean.hpp and with the focused headers.
#
#   bench/compile_time.sh [REPEAT]      (from anywhere; REPEAT defaults to 3)
#
# Each translation unit is compiled to an object file REPEAT times, one compile at a time,
# under /usr/bin/time -v; the table gives the minimum wall time (and the minimum user CPU
# time, steadier on a shared machine) and the largest maximum RSS, plus the number of lines
# `g++ -E` produces. Environment: CXX (default g++), EIGEN_INCLUDE (default /usr/include/eigen3).
# The rows:
#   empty main            int main() {} after one #include
#   clean_consumer.cpp    bench/compile/clean_consumer.cpp: load two model directories, read a
#                         JSONL pool, TokenCleaner<Cpu, LossDelta, GlobalTopK, FixedReference<Cpu>>,
#                         clean, save the cleaned set
#   + open_model          the same, opening the directories with nn/open_model.hpp (any
#                         tokenizer, so the GPT-2 BPE is compiled in)
#   SEPARATE_COMPILATION  the same with TOKCLEAN_SEPARATE_COMPILATION (core/compiled_once.hpp):
#                         the models, the JSONL reader and writer compiled once, in the
#                         implementation TU of the next row
# and, where the time goes: the third-party headers alone, the CPU kernels (Eigen's GEMM is
# instantiated where they are included), the BPE's Unicode tables, and the consumer's front
# end alone (parsing and template instantiation, no code generation).
set -euo pipefail

repeat=${1:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cxx=${CXX:-g++}
flags=(-std=c++20 -O2 -fopenmp -I "$root/include" -I "${EIGEN_INCLUDE:-/usr/include/eigen3}")
consumer=$root/bench/compile/clean_consumer.cpp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

empty_main() {  # empty_main HEADER -> path of a .cpp that includes HEADER and does nothing
    local file
    file=$work/empty_$(basename "$1" .hpp).cpp
    printf '#include <%s>\nint main() { return 0; }\n' "$1" >"$file"
    echo "$file"
}

implementation_tu() {  # the one .cpp of a TOKCLEAN_SEPARATE_COMPILATION program that defines the rest
    local file=$work/implementation.cpp
    printf '#include <tokclean/implementation.hpp>\n' >"$file"
    echo "$file"
}

# measure LABEL SOURCE [EXTRA FLAGS...]: one table row (-c, or what the flags say instead:
# -fsyntax-only stops after the front end)
measure() {
    local label=$1 src=$2
    shift 2
    local lines best_wall="" best_user="" max_rss=0 log=$work/time.log
    lines=$("$cxx" "${flags[@]}" "$@" -E "$src" | wc -l)
    for ((i = 0; i < repeat; i++)); do
        /usr/bin/time -v -o "$log" "$cxx" "${flags[@]}" -c "$src" -o "$work/out.o" "$@"
        local wall user rss
        # Elapsed is [h:]m:ss.cc
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0;
                for (j = 1; j <= n; j++) s = s * 60 + p[j]; printf "%.2f", s}' "$log")
        user=$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$log")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        if [[ -z $best_wall ]] || awk -v a="$wall" -v b="$best_wall" 'BEGIN {exit !(a < b)}'; then best_wall=$wall; fi
        if [[ -z $best_user ]] || awk -v a="$user" -v b="$best_user" 'BEGIN {exit !(a < b)}'; then best_user=$user; fi
        if ((rss > max_rss)); then max_rss=$rss; fi
    done
    printf '| %s | %s s | %s s | %d MB | %d |\n' "$label" "$best_wall" "$best_user" $((max_rss / 1024)) "$lines"
}

echo "$("$cxx" --version | head -1); ${flags[*]//$root\//} -c; minimum of $repeat runs"
echo
echo "| translation unit | wall | user CPU | max RSS | g++ -E lines |"
echo "|---|---|---|---|---|"
measure "empty main, tokclean/tokclean.hpp" "$(empty_main tokclean/tokclean.hpp)"
measure "empty main, tokclean/cleaning.hpp" "$(empty_main tokclean/cleaning.hpp)"
measure "empty main, tokclean/model.hpp" "$(empty_main tokclean/model.hpp)"
measure "empty main, tokclean/data.hpp" "$(empty_main tokclean/data.hpp)"
measure "clean_consumer.cpp, tokclean/tokclean.hpp" "$consumer"
measure "clean_consumer.cpp, tokclean/cleaning.hpp" "$consumer" "-DTOKCLEAN_CONSUMER_HEADER=<tokclean/cleaning.hpp>"
measure "clean_consumer.cpp, tokclean/cleaning.hpp + open_model" "$consumer" \
    "-DTOKCLEAN_CONSUMER_HEADER=<tokclean/cleaning.hpp>" -DTOKCLEAN_CONSUMER_OPEN_MODEL
measure "clean_consumer.cpp, cleaning.hpp + open_model, TOKCLEAN_SEPARATE_COMPILATION" "$consumer" \
    "-DTOKCLEAN_CONSUMER_HEADER=<tokclean/cleaning.hpp>" -DTOKCLEAN_CONSUMER_OPEN_MODEL -DTOKCLEAN_SEPARATE_COMPILATION
measure "its implementation TU (tokclean/implementation.hpp), once per program" "$(implementation_tu)" \
    -DTOKCLEAN_SEPARATE_COMPILATION
echo
echo "Where the time goes:"
echo
echo "| translation unit | wall | user CPU | max RSS | g++ -E lines |"
echo "|---|---|---|---|---|"
measure "empty main, <nlohmann/json.hpp>" "$(empty_main nlohmann/json.hpp)"
measure "empty main, <Eigen/Core>" "$(empty_main Eigen/Core)"
measure "empty main, tokclean/backend/cpu.hpp" "$(empty_main tokclean/backend/cpu.hpp)"
measure "empty main, tokclean/data/detail/unicode_tables.hpp" "$(empty_main tokclean/data/detail/unicode_tables.hpp)"
measure "empty main, tokclean/data/gpt2_bpe.hpp" "$(empty_main tokclean/data/gpt2_bpe.hpp)"
measure "clean_consumer.cpp, tokclean/cleaning.hpp, -fsyntax-only" "$consumer" \
    "-DTOKCLEAN_CONSUMER_HEADER=<tokclean/cleaning.hpp>" -fsyntax-only
