#!/usr/bin/env python3
"""test_help.py - every flag is documented, and the flag table parses as
--help says.

The flags of each subcommand are declared once, in a table that both parses
the command line and prints --help. These tests read the flags back from
--help and check that each is in the README too (a new user reads the
README first), that a value can be joined to its flag (--window=4), and
that a switch refuses a value.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import loomtest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def help_flags(text):
    """The long flags an --help text lists in its options section."""
    flags = set()
    for line in text.splitlines():
        m = re.match(r"^  (?:-\w, )?(--[a-z][a-z-]*)", line)
        if m:
            flags.add(m.group(1))
    return flags


class HelpTest(loomtest.LoomTestCase):

    def test_every_flag_of_every_command_is_in_the_readme(self):
        readme = loomtest.read_text(os.path.join(ROOT, "README.md"))
        for cmd in ("run", "sim", "topo"):
            with self.subTest(command=cmd):
                r = loomtest.run_loom([cmd, "--help"], timeout=60)
                self.assertEqual(r.rc, 0, r.describe())
                flags = help_flags(r.stdout)
                self.assertGreater(len(flags), 0, r.describe())
                for f in sorted(flags - {"--help"}):
                    # In a code span of its own or in a list of flags.
                    pat = r"`[^`\n]*" + re.escape(f) + r"(?![a-z-])[^`\n]*`"
                    self.assertTrue(re.search(pat, readme),
                                    "%s %s is not in README.md" % (cmd, f))

    def test_value_joined_to_its_flag(self):
        tasks = self.path("t.txt")
        with open(tasks, "w") as f:
            f.write("true\ntrue\n")
        r = loomtest.run_loom(["run", "-q", "--window=3", "--retries=1",
                               "-o", self.path("run"), tasks], timeout=60)
        self.assertEqual(r.rc, 0, r.describe())
        r = loomtest.run_loom(["run", "--quiet=yes", tasks], timeout=60)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn("'--quiet' takes no value", r.stderr)
        r = loomtest.run_loom(["run", "--window=0", tasks], timeout=60)
        self.assertEqual(r.rc, 2, r.describe())
        self.assertIn("bad --window '0'", r.stderr)


if __name__ == "__main__":
    loomtest.main()
