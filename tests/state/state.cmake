# The state table's proof: a randomized workload records histories
# (state_run), and checkers written here judge them (check_history.py).
# Each consistency mode also has a deliberately broken build of the state
# objects, linked with the rest of the engine unchanged, that its checker
# must reject: a checker that cannot fail proves nothing.
function(loom_state_run name)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/state/state_run.c ${ARGN})
  target_include_directories(${name} PRIVATE
    ${PROJECT_SOURCE_DIR}/engine/src ${PROJECT_SOURCE_DIR}/engine/include)
  target_link_libraries(${name} PRIVATE MPI::MPI_C Threads::Threads
    PkgConfig::HWLOC loom_warnings ${LIBM})
endfunction()

loom_state_run(state_run $<TARGET_OBJECTS:loom_core> $<TARGET_OBJECTS:loom_state>)

# stale: strong reads served from the local replica, which may lag rank 0;
# nodeps: causal batches applied before the batches they depend on;
# notiebreak: on equal Lamport clocks each replica keeps its own write.
foreach(broken STALE_READ:stale CAUSAL:nodeps NO_TIEBREAK:notiebreak)
  string(REPLACE ":" ";" parts ${broken})
  list(GET parts 0 define)
  list(GET parts 1 suffix)
  add_library(loom_state_${suffix} OBJECT ${LOOM_STATE_SOURCES})
  target_compile_definitions(loom_state_${suffix} PRIVATE LOOM_BROKEN_${define})
  target_include_directories(loom_state_${suffix} PRIVATE
    ${PROJECT_SOURCE_DIR}/engine/src ${PROJECT_SOURCE_DIR}/engine/include)
  target_link_libraries(loom_state_${suffix} PRIVATE MPI::MPI_C
    PkgConfig::HWLOC loom_warnings)
  loom_state_run(state_run_${suffix} $<TARGET_OBJECTS:loom_core>
                 $<TARGET_OBJECTS:loom_state_${suffix}>)
endforeach()

add_test(NAME state.checkers
         COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/state/test_checkers.py)
set_tests_properties(state.checkers PROPERTIES LABELS state TIMEOUT 300)

foreach(mode strong causal eventual claims shell)
  add_test(NAME state.${mode}
           COMMAND ${LOOM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/state/test_state.py
                   ${mode})
  set_tests_properties(state.${mode} PROPERTIES
    ENVIRONMENT "${LOOM_CLI_TEST_ENV};LOOM_STATE_BIN_DIR=$<TARGET_FILE_DIR:state_run>"
    LABELS state TIMEOUT 600 RUN_SERIAL TRUE)
endforeach()
