#!/usr/bin/env bash
# Mutation testing: put one small, plausible bug at a time into a copy of the tree, build it,
# run the tests that should catch it, and report caught / NOT CAUGHT and the score.
#
#   scripts/dev/mutate.sh [--list] [NAME...]
#
# The mutants are in scripts/dev/mutants.txt (file, an exact text, its replacement, the ctest
# tests expected to fail, and why). Each text must occur exactly once in its file: a text that
# is missing (code moved or rewritten) is an error naming the mutant, never a silent pass.
#
# The copy is persistent ($LECTOR_MUTATE_DIR, default $TMPDIR/lector-mutate): the first run
# configures and builds it once (Release); later runs bring it up to date with the working
# tree and rebuild incrementally. Per mutant: apply, rebuild only the named tests' targets
# (one source file recompiled, the library and those tests relinked), run only those tests,
# restore. A mutant whose copy does not build is an error, not a catch. The named tests are
# first run without any mutant: a test that already fails cannot catch anything.
#
# Needs $LECTOR_SHARED (or ../shared beside the project root) for the golden tests.
# Exit status: 0 when every mutant is caught, 1 otherwise, 2 on a usage or setup error.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${LECTOR_SHARED:-$root/../shared}
if [ "${1:-}" != --list ] && [ ! -d "$shared/fixtures" ]; then
  echo "mutate: the shared reference data is missing ('$shared'; set LECTOR_SHARED)" >&2
  exit 2
fi
LECTOR_SHARED=$(cd "$shared" 2>/dev/null && pwd || true) exec python3 - "$root" "$@" <<'PY'
import os
import shutil
import subprocess
import sys
import time

root = sys.argv[1]
args = sys.argv[2:]
work = os.environ.get("LECTOR_MUTATE_DIR") or os.path.join(
    os.environ.get("TMPDIR") or "/tmp", "lector-mutate")
tree, build = os.path.join(work, "tree"), os.path.join(work, "build")
jobs = os.environ.get("LECTOR_MUTATE_JOBS", "2")


def parse(path):
    """The mutants file: blocks of 'key value' lines, each block starting with 'mutant NAME'."""
    mutants, cur = [], None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, val = line.partition(" ")
        val = val.strip()
        if key == "mutant":
            cur = {"name": val, "line": n}
            mutants.append(cur)
        elif cur is None or key not in ("file", "find", "repl", "tests", "why",
                                                  "equivalent"):
            sys.exit(f"mutate: {path}:{n}: unexpected '{key}'")
        elif key in ("find", "repl"):
            # \n in a text stands for a line break (texts spanning lines), \\ for a backslash
            cur[key] = val.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        else:
            cur[key] = val
    names = set()
    for m in mutants:
        for k in ("file", "find", "repl", "tests", "why"):
            if k not in m:
                sys.exit(f"mutate: mutant {m['name']} (line {m['line']}): no '{k}'")
        if m["name"] in names:
            sys.exit(f"mutate: mutant {m['name']} twice")
        names.add(m["name"])
        m["tests"] = m["tests"].split()
    return mutants


def sync():
    """Bring the copy up to date: files whose bytes differ are copied (with a new mtime, so
    make rebuilds them), files gone from the working tree are removed."""
    files = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True, capture_output=True).stdout
    want = {f.decode() for f in files.split(b"\0") if f}
    want = {f for f in want if os.path.isfile(os.path.join(root, f))}
    for f in want:
        src, dst = os.path.join(root, f), os.path.join(tree, f)
        data = open(src, "rb").read()
        if os.path.isfile(dst) and open(dst, "rb").read() == data:
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as fp:
            fp.write(data)
        shutil.copymode(src, dst)
    for dp, _, fs in os.walk(tree):
        for f in fs:
            rel = os.path.relpath(os.path.join(dp, f), tree)
            if rel not in want:
                os.remove(os.path.join(dp, f))


def targets(tests):
    out = set()
    for t in tests:
        if t.startswith("cli_"):
            out |= {"lector_cli", "make_tiny_encoder"}
        elif t.startswith("fuzz_replay_"):
            out.add("replay_" + t[len("fuzz_replay_"):])
        elif t.endswith("_avx512"):
            out.add(t[: -len("_avx512")])
        else:
            out.add(t)
    return sorted(out)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def build_targets(tests):
    return run(["nice", "cmake", "--build", build, "-j", jobs, "--target"] + targets(tests))


def ctest(tests):
    """The names of the tests that failed (ctest's 'Failed' or a timeout), run in parallel."""
    regex = "^(" + "|".join(tests) + ")$"
    p = run(["nice", "ctest", "--test-dir", build, "-j", jobs, "-R", regex,
             "--timeout", "600"])
    failed, ran = [], 0
    for line in p.stdout.splitlines():
        parts = line.split()
        if "Test" not in parts or not parts[parts.index("Test") + 1].startswith("#"):
            continue
        if "Start" in parts[:2]:
            continue
        ran += 1
        name = parts[parts.index("Test") + 2]
        if "Passed" not in line and "***Skipped" not in line:
            failed.append(name)  # Failed, a timeout, a crash
    return failed, ran, p.stdout


def main():
    mutants = parse(os.path.join(root, "scripts", "dev", "mutants.txt"))
    if args[:1] == ["--list"]:
        for m in mutants:
            print(f"{m['name']:28s} {m['file']:36s} {' '.join(m['tests'])}")
        return 0
    if args:
        unknown = set(args) - {m["name"] for m in mutants}
        if unknown:
            sys.exit(f"mutate: no mutant named {', '.join(sorted(unknown))}")
        mutants = [m for m in mutants if m["name"] in args]
    os.makedirs(tree, exist_ok=True)
    t0 = time.time()
    sync()
    # Every pattern first, before any build: a refactor that moved code fails here at once.
    bad = []
    for m in mutants:
        path = os.path.join(tree, m["file"])
        if not os.path.isfile(path):
            bad.append(f"file not found: mutant {m['name']}: {m['file']}")
            continue
        n = open(path, encoding="utf-8").read().count(m["find"])
        if n == 0:
            bad.append(f"pattern not found: mutant {m['name']} in {m['file']}")
        elif n > 1:
            bad.append(f"pattern found {n} times: mutant {m['name']} in {m['file']}")
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        p = run(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
        if p.returncode:
            print(p.stdout, file=sys.stderr)
            return 2
    all_tests = sorted({t for m in mutants for t in m["tests"]})
    print(f"mutate: copy in {work}; building the tests' targets once ...", flush=True)
    p = build_targets(all_tests)
    if p.returncode:
        print(p.stdout[-4000:], file=sys.stderr)
        print("mutate: the unmutated copy does not build", file=sys.stderr)
        return 2
    failed, ran, out = ctest(all_tests)
    if failed or ran < len(all_tests):
        print(out[-6000:], file=sys.stderr)
        print(f"mutate: without any mutant, {len(failed)} of the named tests fail "
              f"({' '.join(failed)}) and {ran} of {len(all_tests)} ran: fix that first",
              file=sys.stderr)
        return 2
    print(f"mutate: {len(all_tests)} tests pass unmutated ({time.time() - t0:.0f} s); "
          f"{len(mutants)} mutants", flush=True)
    rows = []
    for i, m in enumerate(mutants, 1):
        if "equivalent" in m:
            rows.append((m, "equivalent", [], 0.0))
            print(f"[{i:2d}/{len(mutants)}] {m['name']:28s} equivalent: {m['equivalent']}")
            continue
        path = os.path.join(tree, m["file"])
        orig = open(path, encoding="utf-8").read()
        t1 = time.time()
        try:
            with open(path, "w", encoding="utf-8") as fp:
                fp.write(orig.replace(m["find"], m["repl"], 1))
            p = build_targets(m["tests"])
            if p.returncode:
                status, caught_by = "BUILD FAILED", []
                print(p.stdout[-3000:], file=sys.stderr)
            else:
                caught_by, ran, _ = ctest(m["tests"])
                status = "caught" if caught_by else "NOT CAUGHT"
                if ran < len(m["tests"]):
                    status = "NOT CAUGHT" if not caught_by else status
        finally:
            with open(path, "w", encoding="utf-8") as fp:
                fp.write(orig)  # a new mtime: the next build recompiles it unmutated
        dt = time.time() - t1
        rows.append((m, status, caught_by, dt))
        print(f"[{i:2d}/{len(mutants)}] {m['name']:28s} {status:12s} {dt:5.0f} s  "
              f"{' '.join(caught_by) if caught_by else '(expected: ' + ' '.join(m['tests']) + ')'}",
              flush=True)
    n_caught = sum(1 for _, s, _, _ in rows if s == "caught")
    n_equiv = sum(1 for _, s, _, _ in rows if s == "equivalent")
    print()
    print("| mutant | file | caught by | status |")
    print("|---|---|---|---|")
    for m, s, by, _ in rows:
        print(f"| {m['name']} | {m['file']} | {', '.join(by) if by else '-'} | {s} |")
    print()
    print(f"mutation score: {n_caught}/{len(rows) - n_equiv} caught"
          + (f" ({n_equiv} equivalent mutants not run)" if n_equiv else "")
          + f", {time.time() - t0:.0f} s in all")
    return 0 if n_caught + n_equiv == len(rows) else 1


sys.exit(main())
PY
