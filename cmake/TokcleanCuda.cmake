# tokclean::cuda: the GPU backend (include/tokclean/backend/cuda/*.cuh, compiled by nvcc only).
# TOKCLEAN_CUDA=AUTO (a top-level build's default) turns it on when nvcc, cuBLAS(Lt) and cuDNN
# are found and says why not otherwise; ON requires them; OFF (a subproject's default) skips
# this file. TOKCLEAN_HAVE_CUDA tells the rest of the build whether the target exists.
set(TOKCLEAN_HAVE_CUDA OFF)

macro(_tokclean_cuda_unavailable why)
  if(TOKCLEAN_CUDA STREQUAL "AUTO")
    message(STATUS "tokclean: GPU backend off: ${why}")
    return()
  endif()
  message(FATAL_ERROR "TOKCLEAN_CUDA=${TOKCLEAN_CUDA}, but ${why}")
endmacro()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  _tokclean_cuda_unavailable("no CUDA compiler was found (set CMAKE_CUDA_COMPILER, or put nvcc on PATH)")
endif()
# Hopper SASS plus its PTX (which newer GPUs JIT-compile): one architecture keeps nvcc's time
# on CI's two cores small. Override with -DCMAKE_CUDA_ARCHITECTURES=...
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit)
if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublasLt)
  _tokclean_cuda_unavailable("the CUDA toolkit's cuBLAS/cuBLASLt were not found")
endif()
include(TokcleanFindCudnn)
if(NOT TOKCLEAN_CUDNN_FOUND)
  _tokclean_cuda_unavailable("cuDNN (cudnn.h, libcudnn) was not found (set CUDNN_PATH)")
endif()

# Installed as tokclean::cuda too (TokcleanInstall.cmake): an installed package's config finds
# the CUDA toolkit and cuDNN again on the consumer's machine, so nothing here names a path.
add_library(tokclean_cuda INTERFACE)
add_library(tokclean::cuda ALIAS tokclean_cuda)
set_target_properties(tokclean_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(tokclean_cuda INTERFACE tokclean CUDA::cudart CUDA::cublas CUDA::cublasLt
                                              tokclean::cudnn)
target_compile_definitions(tokclean_cuda INTERFACE TOKCLEAN_WITH_CUDA=1
  # Eigen (the CPU backend, included beside) stays host code in .cu files: no __device__
  # annotations, none of their warnings.
  $<$<COMPILE_LANGUAGE:CUDA>:EIGEN_NO_CUDA>)
# C++20 in .cu files (CMake 3.25 does not know nvcc 13's cuda_std_20 feature), and the CPU
# backend's OpenMP there too (nvcc hands host code to the host compiler).
target_compile_options(tokclean_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 -Xcompiler=-fopenmp>)
set(TOKCLEAN_HAVE_CUDA ON)
message(STATUS "tokclean: GPU backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${TOKCLEAN_CUDNN_LIBRARY})")
