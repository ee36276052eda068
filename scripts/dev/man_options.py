#!/usr/bin/env python3
"""Rewrite the OPTIONS section of docs/lector.1 from each command's --help.

    scripts/dev/man_options.py BUILD/lector [--check]

The section between the lines '.\\" BEGIN OPTIONS' and '.\\" END OPTIONS' of docs/lector.1
gets, for each command, its --help text after the usage line, verbatim in a no-fill block,
so every option, default and exit status the program prints is in the man page. --check
changes nothing and exits 1 when the man page differs from what it would write (the test
cli_docs runs this).
"""
import os
import subprocess
import sys

COMMANDS = ["tokenize", "embed", "train", "classify", "eval", "info", "featurise", "cache"]
BEGIN, END = '.\\" BEGIN OPTIONS', '.\\" END OPTIONS'


def roff(line):
    s = line.replace("\\", "\\e").replace("-", "\\-")
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def section(lector):
    out = [BEGIN, ".SH OPTIONS", "Generated from each command's \\-\\-help (scripts/dev/man_options.py)."]
    for cmd in COMMANDS:
        text = subprocess.run([lector, cmd, "--help"], check=True, capture_output=True,
                              text=True).stdout
        lines = text.rstrip("\n").split("\n")
        out += [".SS lector " + cmd, ".nf"] + [roff(l) for l in lines] + [".fi"]
    out.append(END)
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: man_options.py BUILD/lector [--check]")
    lector, check = sys.argv[1], "--check" in sys.argv[2:]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "lector.1")
    old = open(path, encoding="utf-8").read().split("\n")
    if BEGIN not in old or END not in old:
        sys.exit(f"{path}: no '{BEGIN}' ... '{END}' section")
    a, b = old.index(BEGIN), old.index(END)
    new = old[:a] + section(lector) + old[b + 1:]
    if check:
        if new != old:
            print(f"{path}: the OPTIONS section differs from the program's --help; "
                  "run scripts/dev/man_options.py BUILD/lector", file=sys.stderr)
            sys.exit(1)
        return
    open(path, "w", encoding="utf-8").write("\n".join(new))


if __name__ == "__main__":
    main()
