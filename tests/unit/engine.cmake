# White-box unit tests of the engine's private modules (engine/src). They
# call loom__* functions straight from the static libloom.
loom_unit_test(test_taskfile test_taskfile.c loom_internal)
loom_unit_test(test_wire test_wire.c loom_internal)
loom_unit_test(test_sched test_sched.c loom_internal)
loom_unit_test(test_joblog test_joblog.c loom_internal)
loom_unit_test(test_report test_report.c loom_internal)
loom_unit_test(test_progress test_progress.c loom_internal)
loom_unit_test(test_hash test_hash.c loom_internal)
loom_unit_test(test_rundir test_rundir.c loom_internal)
loom_unit_test(test_resume test_resume.c loom_internal)
loom_unit_test(test_policy test_policy.c loom_internal)
loom_unit_test(test_heap test_heap.c loom_internal)
loom_unit_test(test_buf test_buf.c loom_internal)
loom_unit_test(test_topo test_topo.c loom_internal)
target_compile_definitions(test_topo PRIVATE
  LOOM_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
