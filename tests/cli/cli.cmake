# End-to-end tests of the `loom` command: Python 3 scripts (standard library
# only) that run it directly and under mpiexec. Paths are relative to tests/.
# They start many MPI jobs on few cores, so they run one at a time.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  set(LOOM_PYTHON ${Python3_EXECUTABLE})
else()
  set(LOOM_PYTHON python3)
endif()

set(LOOM_CLI_TEST_ENV
    LOOM_BIN=$<TARGET_FILE:loom>
    LOOM_EXAMPLE=$<TARGET_FILE:loom-example>
    MPIEXEC=${MPIEXEC_EXECUTABLE}
    OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
    OMPI_MCA_pml=ob1
    ASAN_OPTIONS=detect_leaks=0 PYTHONDONTWRITEBYTECODE=1
    LOOM_BUILD_DIR=${CMAKE_BINARY_DIR})
if(DEFINED LOOM_MPIEXEC_PREFLAGS)
  # mpi.cmake's flags, as one space-separated value for loomtest.py.
  string(REPLACE ";" " " flags "${LOOM_MPIEXEC_PREFLAGS}")
  list(APPEND LOOM_CLI_TEST_ENV "LOOM_MPIEXEC_PREFLAGS=${flags}")
endif()

foreach(name e2e bad_input kinds_cli stop sim faults lookahead help bench slots
        install hosts)
  add_test(NAME cli.${name}
           COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_${name}.py)
  set_tests_properties(cli.${name} PROPERTIES
    ENVIRONMENT "${LOOM_CLI_TEST_ENV}"
    LABELS cli TIMEOUT 300 RUN_SERIAL TRUE)
endforeach()

add_test(NAME cli.resume
         COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_resume.py)
set_tests_properties(cli.resume PROPERTIES
  ENVIRONMENT "${LOOM_CLI_TEST_ENV}"
  LABELS cli TIMEOUT 300 RUN_SERIAL TRUE)

add_test(NAME cli.topo
         COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_topo.py)
set_tests_properties(cli.topo PROPERTIES
  ENVIRONMENT "${LOOM_CLI_TEST_ENV}"
  LABELS cli TIMEOUT 300 RUN_SERIAL TRUE)

# The sbatch templates on a throwaway local Slurm (scripts/slurm-local.sh):
# skipped, saying why, where Slurm cannot start. The wall-time cycle alone
# takes about two minutes of jobs.
add_test(NAME cli.slurm
         COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_slurm.py)
set_tests_properties(cli.slurm PROPERTIES
  ENVIRONMENT "${LOOM_CLI_TEST_ENV}"
  LABELS "cli;slurm" TIMEOUT 900 RUN_SERIAL TRUE)
