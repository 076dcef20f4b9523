# cuDNN for tokclean::cuda, found the same way by this build (TokcleanCuda.cmake) and by an
# installed package's config (tokcleanConfig.cmake): cudnn.h and libcudnn beside the CUDA
# toolkit (find CUDAToolkit first) or under CUDNN_PATH; the cache variables
# TOKCLEAN_CUDNN_INCLUDE_DIR and TOKCLEAN_CUDNN_LIBRARY point elsewhere. Defines the imported
# target tokclean::cudnn and sets TOKCLEAN_CUDNN_FOUND.
if(TARGET tokclean::cudnn)
  set(TOKCLEAN_CUDNN_FOUND TRUE)
  return()
endif()
find_path(TOKCLEAN_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_PATH PATH_SUFFIXES include)
find_library(TOKCLEAN_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} ENV CUDNN_PATH PATH_SUFFIXES lib64 lib)
set(TOKCLEAN_CUDNN_FOUND FALSE)
if(TOKCLEAN_CUDNN_INCLUDE_DIR AND TOKCLEAN_CUDNN_LIBRARY)
  add_library(tokclean::cudnn INTERFACE IMPORTED GLOBAL)  # seen by a parent project too
  set_target_properties(tokclean::cudnn PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TOKCLEAN_CUDNN_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${TOKCLEAN_CUDNN_LIBRARY}")
  set(TOKCLEAN_CUDNN_FOUND TRUE)
endif()
