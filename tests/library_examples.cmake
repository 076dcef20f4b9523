# The README's library examples, run as users run them (ctest's library_examples):
#   cmake -DTOKCLEAN=... -DCLEAN_POOL=... -DEVOLVE_POOL=... -DMODEL_ALONE=... -DCLEAN_POOL_SEPARATE=...
#         -DDATA=... -DWORK=... -P library_examples.cmake
# Two byte-level models (base, reference) made by `tokclean init`, GPT-2 and then Qwen3;
# clean_pool must write the bytes `tokclean clean` writes; evolve_pool and model_alone must run
# to the end.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(shape --layers 1 --heads 2 --embd 16 --positions 64 --tokenizer byte)
run(${TOKCLEAN} --quiet init --out ${WORK}/base ${shape} --seed 1)
run(${TOKCLEAN} --quiet init --out ${WORK}/ref ${shape} --seed 2)

run(${CLEAN_POOL} ${WORK}/base ${WORK}/ref ${DATA} ${WORK}/example.jsonl)
run(${TOKCLEAN} --quiet clean --base ${WORK}/base --ref ${WORK}/ref --data ${DATA} --out ${WORK}/cli.jsonl
    --keep 0.6 --with-scores)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/example.jsonl ${WORK}/cli.jsonl RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "clean_pool's output differs from tokclean clean's")
endif()

run(${EVOLVE_POOL} ${WORK}/base ${DATA} ${WORK}/evolved)
foreach(f config.json model.safetensors cleaned.jsonl)
  if(NOT EXISTS ${WORK}/evolved/${f})
    message(FATAL_ERROR "evolve_pool wrote no ${f}")
  endif()
endforeach()
run(${MODEL_ALONE} ${WORK}/base)

# The same programs, unchanged, on Llama-family models (Qwen3 shape, grouped-query attention).
set(llama_shape --arch qwen3 --layers 1 --heads 4 --kv-heads 2 --embd 16 --head-dim 8 --intermediate 24
    --positions 64 --tokenizer byte)
run(${TOKCLEAN} --quiet init --out ${WORK}/llama_base ${llama_shape} --seed 1)
run(${TOKCLEAN} --quiet init --out ${WORK}/llama_ref ${llama_shape} --seed 2)
run(${CLEAN_POOL} ${WORK}/llama_base ${WORK}/llama_ref ${DATA} ${WORK}/llama_example.jsonl)
run(${TOKCLEAN} --quiet clean --base ${WORK}/llama_base --ref ${WORK}/llama_ref --data ${DATA}
    --out ${WORK}/llama_cli.jsonl --keep 0.6 --with-scores)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/llama_example.jsonl ${WORK}/llama_cli.jsonl
                RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "clean_pool's output on the Llama-family models differs from tokclean clean's")
endif()
run(${MODEL_ALONE} ${WORK}/llama_base)

# clean_pool built with TOKCLEAN_SEPARATE_COMPILATION (the models compiled once, in another
# translation unit): the same bytes, for both architectures.
foreach(prefix "" "llama_")
  run(${CLEAN_POOL_SEPARATE} ${WORK}/${prefix}base ${WORK}/${prefix}ref ${DATA} ${WORK}/${prefix}separate.jsonl)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/${prefix}separate.jsonl ${WORK}/${prefix}cli.jsonl
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "clean_pool_separate's output (${prefix}base) differs from tokclean clean's")
  endif()
endforeach()
message(STATUS "library examples: all ran; clean_pool equals tokclean clean byte for byte (GPT-2 and Qwen3, header-only and compiled separately)")
