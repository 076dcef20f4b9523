# The byte-identity check of ctest's consumer_plain_flags:
#   cmake -DTOKCLEAN=<tokclean> -DCONSUMER=<clean_plain> -DDATA=<tests/data> -DWORK=<dir> [-DNATIVE=ON]
#         -P compare.cmake
# clean_plain (plain -O2, tests/consumer/plain_flags) must write the bytes of
# `tokclean clean --keep 0.6 --with-scores` in two cases: gpt2_tiny's model and adamw_final on
# data.jsonl and a generated pool; two `tokclean init` models large enough for threaded GEMMs,
# several k blocks, attention's query blocks and partial vectors everywhere.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

# Appends to `path` `count` pre-tokenized examples of 4 to max_len ids below `vocab`, the
# first quarter of each a prompt (label -100), from a fixed linear congruential sequence.
function(append_pool path count max_len vocab)
  set(state 20261204)
  foreach(e RANGE 1 ${count})
    math(EXPR state "(${state} * 1103515245 + 12345) % 2147483648")
    math(EXPR len "4 + ${state} % (${max_len} - 3)")
    math(EXPR prompt "${len} / 4")
    set(ids "")
    set(labels "")
    foreach(t RANGE 1 ${len})
      math(EXPR state "(${state} * 1103515245 + 12345) % 2147483648")
      math(EXPR id "${state} / 65536 % ${vocab}")
      list(APPEND ids ${id})
      if(t GREATER prompt)
        list(APPEND labels ${id})
      else()
        list(APPEND labels -100)
      endif()
    endforeach()
    list(JOIN ids "," ids)
    list(JOIN labels "," labels)
    file(APPEND ${path} "{\"input_ids\":[${ids}],\"labels\":[${labels}]}\n")
  endforeach()
endfunction()

# Cleans `pool` with (base, ref) both ways and compares the files.
function(compare name base ref pool)
  execute_process(COMMAND ${CONSUMER} ${base} ${ref} ${pool} ${WORK}/${name}.consumer.jsonl
                  OUTPUT_VARIABLE said COMMAND_ERROR_IS_FATAL ANY)
  if(NATIVE AND said MATCHES "generic kernels")
    message(STATUS "SKIPPED: TOKCLEAN_NATIVE builds tokclean with -march=native, and without AVX-512 the "
                   "portable kernels follow the compile flags")
    return()
  endif()
  execute_process(COMMAND ${TOKCLEAN} --quiet clean --base ${base} --ref ${ref} --data ${pool}
                          --out ${WORK}/${name}.cli.jsonl --keep 0.6 --with-scores
                  OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/${name}.consumer.jsonl ${WORK}/${name}.cli.jsonl
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "${name}: the plain -O2 consumer's cleaned file differs from tokclean clean's "
                        "(${WORK}/${name}.consumer.jsonl, ${WORK}/${name}.cli.jsonl)")
  endif()
  string(STRIP "${said}" said)
  message(STATUS "${name}: ${said}; equals tokclean clean byte for byte")
endfunction()

configure_file(${DATA}/gpt2_tiny/data.jsonl ${WORK}/tiny_pool.jsonl COPYONLY)
append_pool(${WORK}/tiny_pool.jsonl 60 32 97)
compare(gpt2_tiny ${DATA}/gpt2_tiny/model ${DATA}/gpt2_tiny/adamw_final ${WORK}/tiny_pool.jsonl)

foreach(seed 1 2)
  execute_process(COMMAND ${TOKCLEAN} --quiet init --out ${WORK}/init${seed} --layers 2 --heads 4 --embd 256
                          --positions 96 --vocab 1000 --seed ${seed}
                  OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
endforeach()
append_pool(${WORK}/init_pool.jsonl 40 96 1000)
compare(init ${WORK}/init1 ${WORK}/init2 ${WORK}/init_pool.jsonl)
