#===- GeckoCommon.cmake - helpers shared by both halves -------------------===#

# Warnings for our own code (not applied to third-party or generated code).
function(gecko_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang|GNU")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  endif()
endfunction()

# gecko_add_unit_test(NAME SOURCES src... LIBS lib... [LABEL label])
# A GoogleTest executable; every TEST becomes its own ctest entry.
function(gecko_add_unit_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    GECKO_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    GECKO_BINARY_DIR="${PROJECT_BINARY_DIR}"
    GECKO_SHARED_DIR="${GECKO_SHARED_DIR}")
  gecko_set_warnings(${name})
  # One label per executable (default "unit"): list-valued properties do not
  # survive gtest_discover_tests' generated script portably. Select several
  # with a regex, e.g. ctest -L 'unit|gpu'. GTEST_SKIP()ped tests are reported
  # as skipped by gtest_discover_tests itself.
  set(label unit)
  if(ARG_LABEL)
    set(label ${ARG_LABEL})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${label})
endfunction()
