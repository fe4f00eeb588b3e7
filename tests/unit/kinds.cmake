# Unit tests of the built-in task kinds (tasks/).
loom_unit_test(test_kinds test_kinds.c loom_tasks)
