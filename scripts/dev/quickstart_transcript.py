#!/usr/bin/env python3
"""Run the commands of docs/quickstart.md and write their real output into it.

    scripts/dev/quickstart_transcript.py BUILD_DIR [--check]

Every ```console block of docs/quickstart.md is a transcript: a line starting with "$ " is a
command (continued on the next lines while a line ends with "\\", "|" or "&&"), and the lines up to
the next command are its output (stdout and stderr, as a terminal shows them). The script
runs the commands of all blocks in order, in one fresh temporary folder holding a link to the
project's corpora/, with BUILD_DIR first on PATH, a temporary feature cache, and
LECTOR_ENCODER set to the shared small test encoder ($LECTOR_SHARED/models/mini-mlm-uncased),
and replaces each output with what the command printed. --check writes nothing and exits 1
when the document differs (timings such as "in 0.4 s" are not compared, and other numbers
only to 1e-3 relative); the test cli_quickstart_doc runs it, so the quick start cannot
drift.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC = os.path.join(ROOT, "docs", "quickstart.md")


def parse(lines):
    """Yield (kind, payload): ("text", line) or ("block", [(command_lines, output_lines)])."""
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            yield "text", lines[i]
            i += 1
            continue
        yield "text", lines[i]
        i += 1
        block = []
        while i < len(lines) and lines[i].strip() != "```":
            if not lines[i].startswith("$ "):
                block.append(([], [lines[i]]))  # text before the first command: kept
                i += 1
                continue
            cmd = [lines[i]]
            while re.search(r"(\\|\||&&)\s*$", cmd[-1]) and i + 1 < len(lines):
                i += 1
                cmd.append(lines[i])
            i += 1
            out = []
            while i < len(lines) and lines[i].strip() != "```" and not lines[i].startswith("$ "):
                out.append(lines[i])
                i += 1
            block.append((cmd, out))
        yield "block", block


def run(cmd_lines, work, env, encoder):
    script = "\n".join(cmd_lines)[2:]
    p = subprocess.run(["bash", "-c", "set -o pipefail; " + script], cwd=work, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # No path of this machine in the page: the temporary folder goes, the encoder's folder
    # is written as under $LECTOR_SHARED.
    out = p.stdout.replace(work + "/", "")
    for path in {encoder, os.path.realpath(encoder)}:
        out = out.replace(path, "$LECTOR_SHARED/models/mini-mlm-uncased")
    return out.rstrip("\n").split("\n") if out.strip() else []


NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?")


def same_line(a, b):
    """Equal text, timings aside, and numbers equal to 1e-3 relative (the last digits of a
    probability may move with the kernels; an accuracy, a count or an epoch may not)."""
    a, b = (re.sub(r"\bin [0-9.]+ s\b", "in N s", x) for x in (a, b))
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        if x != y and abs(float(x) - float(y)) > 1e-3 * max(1e-3, abs(float(x))):
            return False
    return True


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: quickstart_transcript.py BUILD_DIR [--check]")
    build, check = os.path.abspath(sys.argv[1]), "--check" in sys.argv[2:]
    shared = os.environ.get("LECTOR_SHARED") or os.path.join(ROOT, "..", "shared")
    # Resolved, so the path given to lector is the one it records (no "given as" note that
    # depends on how the shared folder was reached).
    encoder = os.path.realpath(os.path.join(shared, "models", "mini-mlm-uncased"))
    if not os.path.isfile(os.path.join(encoder, "config.json")):
        print(f"skipped: {encoder} not found (set LECTOR_SHARED)")
        sys.exit(77)
    lines = open(DOC, encoding="utf-8").read().split("\n")
    work = tempfile.mkdtemp()
    try:
        os.symlink(os.path.join(ROOT, "corpora"), os.path.join(work, "corpora"))
        env = dict(os.environ, PATH=build + os.pathsep + os.environ.get("PATH", ""),
                   XDG_CACHE_HOME=os.path.join(work, ".cache"), LECTOR_ENCODER=encoder,
                   LC_ALL="C.UTF-8")
        env.pop("LECTOR_VOCAB_DIR", None)
        new = []
        for kind, payload in parse(lines):
            if kind == "text":
                new.append(payload)
                continue
            for cmd, out in payload:
                if not cmd:
                    new += out
                    continue
                new += cmd + run(cmd, work, env, encoder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if check:
        if len(new) != len(lines) or not all(same_line(a, b) for a, b in zip(lines, new)):
            for a, b in zip(lines, new):
                if not same_line(a, b):
                    print(f"docs/quickstart.md: '{a}'\n          a run gives: '{b}'", file=sys.stderr)
                    break
            print("docs/quickstart.md differs from a run; regenerate it with "
                  "scripts/dev/quickstart_transcript.py BUILD_DIR", file=sys.stderr)
            sys.exit(1)
        return
    open(DOC, "w", encoding="utf-8").write("\n".join(new))


if __name__ == "__main__":
    main()
