# install + export + package config: find_package(tokclean) gives tokclean::tokclean, and
# tokclean::cuda (component cuda) where this build has the GPU backend and the consumer's
# machine has the CUDA toolkit and cuDNN (the config looks for them: tokcleanConfig.cmake.in).
include(CMakePackageConfigHelpers)
set(_tokclean_config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tokclean)

install(TARGETS tokclean EXPORT tokcleanTargets)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(EXPORT tokcleanTargets NAMESPACE tokclean:: DESTINATION ${_tokclean_config_dir})
# The GPU target in an export set of its own: it names CUDA::* and tokclean::cudnn, which
# only a consumer that found CUDA has, so the config includes it only then.
if(TOKCLEAN_HAVE_CUDA)
  install(TARGETS tokclean_cuda EXPORT tokcleanCudaTargets)
  install(EXPORT tokcleanCudaTargets NAMESPACE tokclean:: DESTINATION ${_tokclean_config_dir})
  install(FILES cmake/TokcleanFindCudnn.cmake DESTINATION ${_tokclean_config_dir})
endif()

configure_package_config_file(cmake/tokcleanConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfig.cmake
  INSTALL_DESTINATION ${_tokclean_config_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfigVersion.cmake
        DESTINATION ${_tokclean_config_dir})
if(TOKCLEAN_BUILD_EXAMPLES)
  install(TARGETS tokclean_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  if(TARGET tokclean_cuda_verbs)  # the GPU plugin, where the program looks for it
    install(TARGETS tokclean_cuda_verbs LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/tokclean)
  endif()
endif()
