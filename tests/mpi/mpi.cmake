# MPI integration tests of the library API and the example program, each
# run through mpiexec at 1 to 4 ranks. Paths are relative to tests/.
#
# More ranks than cores needs --oversubscribe, and Open MPI refuses root
# without --allow-run-as-root: both are added to MPIEXEC_PREFLAGS unless the
# cache already sets LOOM_MPIEXEC_PREFLAGS (set it empty for other MPIs).
if(NOT DEFINED LOOM_MPIEXEC_PREFLAGS)
  set(flags ${MPIEXEC_PREFLAGS})
  separate_arguments(flags UNIX_COMMAND "${flags}")
  foreach(flag --oversubscribe --allow-run-as-root)
    if(NOT flag IN_LIST flags)
      list(APPEND flags ${flag})
    endif()
  endforeach()
  set(LOOM_MPIEXEC_PREFLAGS "${flags}" CACHE STRING
      "Flags given to mpiexec before the program in MPI and CLI tests")
endif()

# Loopback only, the ob1 messaging layer (no probes for Omni-Path hardware
# at each start), and no leak reports for Open MPI's own allocations.
set(LOOM_MPI_TEST_ENV
    OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
    OMPI_MCA_pml=ob1
    ASAN_OPTIONS=detect_leaks=0)

# loom_mpi_test(NAME TARGET): mpi.NAME.npN for N = 1..4, running TARGET.
function(loom_mpi_test name target)
  foreach(np 1 2 3 4)
    add_test(NAME mpi.${name}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np}
                     ${LOOM_MPIEXEC_PREFLAGS} $<TARGET_FILE:${target}>
                     ${MPIEXEC_POSTFLAGS})
    set_tests_properties(mpi.${name}.np${np} PROPERTIES
      ENVIRONMENT "${LOOM_MPI_TEST_ENV}"
      LABELS mpi TIMEOUT 120 RUN_SERIAL TRUE)
  endforeach()
endfunction()

# The tests use only loom.h and MPI, as a program outside the tree would.
foreach(t test_api_run test_api_errors test_state_api test_slots_api
          test_arrays_api)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/${t}.c)
  target_link_libraries(${t} PRIVATE libloom loom_warnings)
endforeach()

# White-box: the message layer and the worker loop, from engine/src.
add_executable(test_comm ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_comm.c)
target_link_libraries(test_comm PRIVATE libloom loom_warnings)
target_include_directories(test_comm PRIVATE ${PROJECT_SOURCE_DIR}/engine/src)

loom_mpi_test(api_run test_api_run)
loom_mpi_test(comm test_comm)
loom_mpi_test(api_errors test_api_errors)
loom_mpi_test(state_api test_state_api)
loom_mpi_test(slots_api test_slots_api)
loom_mpi_test(arrays_api test_arrays_api)
loom_mpi_test(example loom-example)
