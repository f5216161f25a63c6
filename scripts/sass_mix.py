#!/usr/bin/env python3
"""Static SASS opcode mix of the kernels in a `cuobjdump -sass` listing.

    cuobjdump -sass build/objs/machete_mm_impl_part3.o > part3.sass
    python3 scripts/sass_mix.py part3.sass [--match TEXT ...] [--dump DIR] [--top N]

One block per kernel whose demangled name contains every TEXT: its instruction count and the N most
frequent opcodes (modifiers dropped: HMUL2.FTZ -> HMUL2). --dump writes each selected kernel's
SASS to DIR/<index>.sass for reading the mainloop. Needs no GPU (cuobjdump is in the CUDA toolkit).
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys

FUNC = re.compile(r"^\s*Function : (\S+)")
INSN = re.compile(r"^\s*/\*[0-9a-f]{4,}\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)")


def kernels(lines):
    name, body = None, []
    for line in lines:
        m = FUNC.match(line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
        elif name:
            body.append(line)
    if name:
        yield name, body


def demangle(name):
    if not shutil.which("c++filt"):
        return name
    return subprocess.run(["c++filt", name], capture_output=True, text=True).stdout.strip() or name


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("listing")
    ap.add_argument("--match", action="append", default=[],
                    help="substring of the demangled name (repeatable; c++filt when present, else the mangled one)")
    ap.add_argument("--dump", help="write each selected kernel's SASS here")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    with open(args.listing, errors="replace") as f:
        lines = f.read().splitlines()
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    n = 0
    for name, body in kernels(lines):
        name = demangle(name)
        if not all(t in name for t in args.match):
            continue
        mix = collections.Counter()
        for line in body:
            m = INSN.match(line)
            if m:
                mix[m.group(2).split(".")[0]] += 1
        print(f"[{n}] {name[:400]}")
        print(f"    {sum(mix.values())} instructions")
        for op, c in mix.most_common(args.top):
            print(f"    {op:12s} {c}")
        if args.dump:
            with open(os.path.join(args.dump, f"{n}.sass"), "w") as f:
                f.write(f"// {name}\n" + "\n".join(body) + "\n")
        n += 1
    if n == 0:
        print("no kernel matched", args.match, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
