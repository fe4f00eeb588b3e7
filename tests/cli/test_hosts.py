#!/usr/bin/env python3
"""loom across three hosts: network namespaces made by
scripts/netns-hosts.sh, each with its own network stack, address and
hostname, spanned by mpirun over TCP on their private subnet (its rsh agent
enters each namespace). Each host gets a different fake machine
(LOOM_TOPOLOGY, chosen by hostname), so their weights differ.

- tasks run on every host (the joblog's host column, and what each task
  says its hostname is), one worker rank per host with --slots auto;
- --weight HOST=W and --weights-file act by host name;
- loom topo shows each host's hardware.

Without root or network namespaces the tests skip, saying why.
"""
import json
import os
import subprocess
import unittest

import loomtest

ROOT = loomtest.SOURCE_ROOT
HOSTS = os.path.join(ROOT, "scripts", "netns-hosts.sh")
DATA = os.path.join(ROOT, "tests", "data")
NAME = "lt"
TOPOLOGY = {
    NAME + "1": "xml:" + os.path.join(DATA, "topo-2p16c.xml"),
    NAME + "2": "synthetic:pack:1 numa:1 l3:1 l2:4 core:1 pu:1",
    NAME + "3": "xml:" + os.path.join(DATA, "topo-hybrid.xml"),
}
STATE = {}


def setUpModule():
    r = subprocess.run([HOSTS, "up", NAME, "3"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines() or ["failed"]
        raise unittest.SkipTest("no namespace hosts: " + lines[-1])
    STATE["subnet"] = subprocess.run([HOSTS, "subnet", NAME],
                                     capture_output=True, text=True,
                                     check=True).stdout.strip()


def tearDownModule():
    subprocess.run([HOSTS, "down", NAME, "3"], capture_output=True,
                   timeout=60)


class HostsTest(loomtest.LoomTestCase):

    def setUp(self):
        super().setUp()
        self.hostfile = self.write("hostfile", "".join(
            "%s slots=2\n" % h for h in sorted(TOPOLOGY)))
        cases = "".join("%s) export LOOM_TOPOLOGY='%s' ;;\n" % (h, t)
                        for h, t in TOPOLOGY.items())
        self.wrapper = self.write("loom-on-host.sh", (
            "#!/bin/sh\n# each host its own fake machine\n"
            "case $(hostname) in\n%sesac\nexec %s \"$@\"\n")
            % (cases, loomtest.LOOM))
        os.chmod(self.wrapper, 0o755)

    def across(self, args, np=4, timeout=120):
        """mpirun of loom over the three hosts, started on the first:
        ranks round-robin, so rank 0 (the master) and rank 3 share it."""
        subnet = STATE["subnet"]
        mpirun = ["mpirun", "--hostfile", self.hostfile, "--map-by", "node",
                  "-np", str(np), "--bind-to", "none",
                  "--mca", "plm_rsh_agent", "%s agent %s" % (HOSTS, NAME),
                  "--mca", "plm_rsh_no_tree_spawn", "1",
                  "--mca", "btl_tcp_if_include", subnet,
                  "--mca", "oob_tcp_if_include", subnet]
        if os.geteuid() == 0:
            mpirun.append("--allow-run-as-root")
        argv = ["nsenter", "--net=/run/netns/%s1" % NAME, "unshare", "--uts",
                "sh", "-c", 'hostname %s1 && exec "$@"' % NAME, "sh"]
        env = loomtest.test_env()
        for k in ("OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_oob_tcp_if_include"):
            env.pop(k, None)
        return loomtest.run_argv(argv + mpirun + [self.wrapper] + args,
                                 cwd=self.tmp, env=env, timeout=timeout)

    def test_tasks_run_on_every_host(self):
        self.write("t.txt", "hostname; sleep 0.05\n" * 60)
        r = self.across(["run", "-o", "run", "--slots", "auto", "t.txt"])
        self.assertEqual(r.rc, 0, r.describe())
        rows = loomtest.read_joblog(self.path("run"))
        self.assertEqual(len(rows), 60)
        self.assertEqual({x["host"] for x in rows}, set(TOPOLOGY), r.describe())
        for x in rows:  # where the joblog says, the task says it ran
            said = loomtest.read_text(loomtest.output_path(
                self.path("run"), x["id"], x["attempt"], "out")).strip()
            self.assertEqual(said, x["host"])
        rep = loomtest.read_report(self.path("run"))
        by_host = {w["host"]: w for w in rep["per_worker"]}
        self.assertEqual(set(by_host), set(TOPOLOGY))
        # Three machines, three weights, from their topologies.
        weights = {h: w["weight"] for h, w in by_host.items()}
        self.assertEqual(len(set(weights.values())), 3, weights)
        self.assertEqual(by_host[NAME + "1"]["cores"], 16)
        self.assertEqual(by_host[NAME + "2"]["cores"], 4)
        self.assertTrue(all(w["weight_from"] == "topology"
                            for w in by_host.values()))

    def test_weights_by_host_name(self):
        self.write("t.txt", "true\n" * 20)
        self.write("weights", "# by host\n%s3=7\n" % NAME)
        r = self.across(["run", "-o", "run", "--weight", NAME + "2=5",
                         "--weights-file", "weights", "t.txt"])
        self.assertEqual(r.rc, 0, r.describe())
        rep = loomtest.read_report(self.path("run"))
        by_host = {w["host"]: w for w in rep["per_worker"]}
        self.assertEqual(by_host[NAME + "2"]["weight"], 5)
        self.assertEqual(by_host[NAME + "2"]["weight_from"], "user")
        self.assertEqual(by_host[NAME + "3"]["weight"], 7)
        self.assertEqual(by_host[NAME + "1"]["weight_from"], "topology")

    def test_the_readme_recipe_as_written(self):
        block = loomtest.readme_block("**Several hosts without a cluster.**")
        self.addCleanup(subprocess.run, [HOSTS, "down", "node", "3"],
                        capture_output=True, timeout=60)
        os.symlink(os.path.join(ROOT, "scripts"), self.path("scripts"))
        self.write("tasks.txt", "hostname\n" * 12)
        env = loomtest.test_env({
            "PATH": os.path.dirname(os.path.abspath(loomtest.LOOM)) + ":" +
            os.environ.get("PATH", ""),
            "OMPI_ALLOW_RUN_AS_ROOT": "1",
            "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
        for k in ("OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_oob_tcp_if_include"):
            env.pop(k, None)
        r = loomtest.run_argv(["bash", "-e", "-c", block], cwd=self.tmp,
                              env=env)
        self.assertEqual(r.rc, 0, r.describe())
        rows = loomtest.read_joblog(self.path("run-h"))
        self.assertEqual({x["host"] for x in rows},
                         {"node1", "node2", "node3"})
        rep = loomtest.read_report(self.path("run-h"))
        by_host = {w["host"]: w for w in rep["per_worker"]}
        self.assertEqual(by_host["node2"]["weight"], 5)
        self.assertFalse(os.path.exists("/run/netns/node1"), "not torn down")

    def test_topo_shows_each_host(self):
        r = self.across(["topo", "--json"])
        self.assertEqual(r.rc, 0, r.describe())
        rows = json.loads(r.stdout)
        self.assertEqual(len(rows), 4)
        cores = {x["host"]: x["cores"] for x in rows}
        self.assertEqual(cores, {NAME + "1": 16, NAME + "2": 4,
                                 NAME + "3": cores[NAME + "3"]})
        self.assertEqual(set(cores), set(TOPOLOGY))


if __name__ == "__main__":
    loomtest.main()
