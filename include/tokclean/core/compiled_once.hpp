#pragma once
// Header-only by default; optionally compiled once. The few functions that make a program slow
// to compile because of what they pull in (opening a model directory, which builds every
// architecture, reading and writing JSONL) are marked TOKCLEAN_COMPILED_ONCE:
//
//   default                       inline, defined in every translation unit that uses them;
//   TOKCLEAN_SEPARATE_COMPILATION defined for every translation unit of the program (CMake:
//                                 target_compile_definitions(app PRIVATE
//                                 TOKCLEAN_SEPARATE_COMPILATION)): declared only, defined once,
//                                 in the one translation unit that includes
//                                 <tokclean/implementation.hpp>.
//
// A marked function is written
//   TOKCLEAN_COMPILED_ONCE Result name(args)
//   #if TOKCLEAN_DEFINE_COMPILED_ONCE
//   { ... }
//   #else
//   ;
//   #endif
#if defined(TOKCLEAN_SEPARATE_COMPILATION)
#define TOKCLEAN_COMPILED_ONCE
#if defined(TOKCLEAN_IMPLEMENTATION)
#define TOKCLEAN_DEFINE_COMPILED_ONCE 1
#else
#define TOKCLEAN_DEFINE_COMPILED_ONCE 0
#endif
#else
#define TOKCLEAN_COMPILED_ONCE inline
#define TOKCLEAN_DEFINE_COMPILED_ONCE 1
#endif
