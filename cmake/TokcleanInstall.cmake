# install + export + package config: find_package(tokclean) gives tokclean::tokclean.
include(CMakePackageConfigHelpers)

install(TARGETS tokclean EXPORT tokcleanTargets)
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(EXPORT tokcleanTargets NAMESPACE tokclean::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tokclean)

configure_package_config_file(cmake/tokcleanConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tokclean)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tokcleanConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tokclean)
if(TOKCLEAN_BUILD_EXAMPLES)
  install(TARGETS tokclean_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  if(TARGET tokclean_cuda_verbs)  # the GPU plugin, where the program looks for it
    install(TARGETS tokclean_cuda_verbs LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/tokclean)
  endif()
endif()
