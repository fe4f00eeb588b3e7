#!/usr/bin/env python3
"""The installed tree: `cmake --install` puts the binary, the library, its
header, a pkg-config file, a CMake package (find_package(loom), target
loom::loom), the Slurm templates and the man page under a prefix; a
program outside this tree (tasks/example_api.c, which uses only loom.h and
MPI) is then built against it twice, with pkg-config and with
find_package, and run under mpiexec."""
import os
import shutil
import subprocess

import loomtest

BUILD = os.environ.get("LOOM_BUILD_DIR") or os.path.dirname(
    os.path.dirname(loomtest.LOOM))
EXAMPLE = os.path.join(loomtest.SOURCE_ROOT, "tasks", "example_api.c")


class InstallTest(loomtest.LoomTestCase):

    def sh(self, argv, **kw):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                           **kw)
        self.assertEqual(r.returncode, 0, "%s\n%s%s" % (argv, r.stdout,
                                                        r.stderr))
        return r.stdout

    def run_example(self, exe):
        r = loomtest.run_argv([loomtest.MPIEXEC, "-n", "2"] +
                              loomtest.mpiexec_preflags() + [exe],
                              cwd=self.tmp)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn("ok", r.stdout + r.stderr)

    def test_install_and_build_against_it(self):
        prefix = self.path("prefix")
        self.sh(["cmake", "--install", BUILD, "--prefix", prefix])
        for f in ["bin/loom", "lib/libloom.a", "include/loom.h",
                  "lib/pkgconfig/loom.pc", "lib/cmake/loom/loomConfig.cmake",
                  "lib/cmake/loom/loomConfigVersion.cmake",
                  "share/loom/slurm/walltime.sbatch",
                  "share/loom/slurm/slurm-local.sh",
                  "share/man/man1/loom.1"]:
            self.assertTrue(os.path.exists(os.path.join(prefix, f)), f)
        # The man page says what --help says: every flag of loom run.
        page = loomtest.read_text(os.path.join(prefix, "share/man/man1/loom.1"))
        run_help = self.sh([loomtest.LOOM, "run", "--help"])
        for flag in set(w.rstrip(",") for w in run_help.split()
                        if w.startswith("--")):
            self.assertIn(flag.replace("-", "\\-"), page, flag)

        # pkg-config, with the MPI compiler wrapper.
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib",
                                                            "pkgconfig"))
        flags = self.sh(["pkg-config", "--cflags", "--libs", "loom"],
                        env=env).split()
        self.sh(["mpicc", "-O1", EXAMPLE, "-o", self.path("ex-pc")] + flags)
        self.run_example(self.path("ex-pc"))

        # find_package(loom) and the loom::loom target.
        src = self.path("ext")
        os.makedirs(src)
        shutil.copy(EXAMPLE, src)
        self.write("ext/CMakeLists.txt",
                   "cmake_minimum_required(VERSION 3.16)\n"
                   "project(ext C)\n"
                   "find_package(loom 0.1 REQUIRED)\n"
                   "add_executable(ex example_api.c)\n"
                   "target_link_libraries(ex PRIVATE loom::loom)\n")
        self.sh(["cmake", "-S", src, "-B", self.path("ext-build"),
                 "-DCMAKE_PREFIX_PATH=" + prefix])
        self.sh(["cmake", "--build", self.path("ext-build")])
        self.run_example(self.path("ext-build", "ex"))


if __name__ == "__main__":
    loomtest.main()
