// The one translation unit of a program built with TOKCLEAN_SEPARATE_COMPILATION (here:
// clean_pool_separate) that compiles what the headers only declare there: opening model
// directories (every architecture), reading and writing JSONL. The program's other
// translation units then compile in seconds (bench/RESULTS.md, "Compile time of a consumer").
#include <tokclean/implementation.hpp>
