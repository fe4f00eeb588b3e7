#!/usr/bin/env python3
"""manpage.py - writes loom(1) from the --help of loom and of each command.

    scripts/manpage.py LOOM_BINARY VERSION OUT

--help is printed from the commands' flag tables, so the man page says what
--help says and cannot drift from it. Each "options:" block becomes a list
of flags (.TP); the other blocks of a command's help go in as they are.
The build runs this (the loom_man target) and installs the page under
share/man/man1.
"""
import re
import subprocess
import sys

FLAG = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + l if l[:1] in (".", "'") else l
                     for l in text.split("\n"))


def help_of(binary, args):
    r = subprocess.run([binary] + args + ["--help"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.strip():
        sys.exit("manpage.py: %s --help failed: %s" %
                 (" ".join([binary] + args), r.stderr.strip()))
    return r.stdout


def commands(main_help):
    """The commands the main help lists, in its order."""
    out, inside = [], False
    for line in main_help.splitlines():
        if line.strip() == "commands:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            out.append(line.split()[0])
    return out


def options(block):
    """An options: block as .TP entries."""
    out, lines = [], block.split("\n")[1:]
    for line in lines:
        m = FLAG.match(line)
        if m:
            out.append(".TP")
            out.append("\\fB%s\\fR" % roff(m.group(1).strip()))
            if m.group(2):
                out.append(roff(m.group(2)))
        elif line.strip():
            out.append(roff(line.strip()))
    return out


def section(title, text):
    out = [".SH %s" % title]
    for block in text.strip("\n").split("\n\n"):
        if block.startswith("options:"):
            out.extend(options(block))
        elif block.startswith("usage:"):
            out.append(".nf")
            out.append(roff(re.sub(r"^usage: ", "", block, flags=re.M)
                            .replace("\n       ", "\n")))
            out.append(".fi")
        else:
            out.append(".PP")
            out.append(".nf")
            out.append(roff(block))
            out.append(".fi")
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: manpage.py LOOM_BINARY VERSION OUT")
    binary, version, path = sys.argv[1:]
    top = help_of(binary, [])
    page = ['.TH LOOM 1 "" "loom %s" "User Commands"' % version,
            ".SH NAME",
            "loom \\- topology\\-aware MPI task farm"]
    page += section("SYNOPSIS AND DESCRIPTION", top)
    for cmd in commands(top):
        page += section('"LOOM %s"' % cmd.upper(), help_of(binary, [cmd]))
    page += [".SH SEE ALSO",
             "The README of the loom sources: task files, the run directory, "
             "slots, the state table, running on a cluster."]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
