#!/usr/bin/env python3
"""Attribute tb_count.c's counts to kernel symbols and to rerand.ko's lines.

usage: tb_lines.py CONSOLE_LOG COUNTS RERAND_KO [PER]

CONSOLE_LOG holds the guest's text symbols between the lines KSYMS-BEGIN
and KSYMS-END (`grep -E '^[0-9a-f]+ [tT] ' /proc/kallsyms`); COUNTS is the
plugin's output. Prints instructions (divided by PER, e.g. the copies
built) by kernel symbol, then by rerand.ko's innermost function and source
line with the functions inlined around it (addr2line -i). A block counts
at the line of its first instruction.
"""
import bisect
import collections
import subprocess
import sys


def kallsyms(log):
    syms, inside = [], False
    for line in open(log, errors="replace"):
        if line.startswith("KSYMS-BEGIN"):
            inside = True
        elif line.startswith("KSYMS-END"):
            break
        elif inside:
            f = line.split()
            if len(f) >= 3:
                syms.append((int(f[0], 16), f[2], f[3] if len(f) > 3 else ""))
    syms.sort()
    return syms


def ko_text_symbols(ko):
    """rerand.ko's text symbols: name -> offset in its .text."""
    nm = subprocess.run(["aarch64-linux-gnu-nm", ko], capture_output=True,
                        text=True, check=True).stdout
    return {f[2]: int(f[0], 16) for f in map(str.split, nm.splitlines())
            if len(f) == 3 and f[1] in "tT"}


def counts(log, tb, in_ko):
    """Instructions by kernel symbol, and by address in rerand.ko."""
    syms = kallsyms(log)
    starts = [s[0] for s in syms]
    by_sym, by_ko = collections.Counter(), collections.Counter()
    for line in open(tb):
        vaddr, insns, runs = line.split()
        vaddr, n = int(vaddr, 16), int(insns) * int(runs)
        i = bisect.bisect_right(starts, vaddr) - 1
        if i < 0 or vaddr - starts[i] > 0x10000:
            by_sym["(no symbol: module copies, or beyond)"] += n
            continue
        addr, name, mod = syms[i]
        by_sym[f"{name} {mod}".strip()] += n
        if mod == "[rerand]" and name in in_ko:
            by_ko[in_ko[name] + vaddr - addr] += n
    return by_sym, by_ko


def frames_of(ko, addrs):
    """Address -> [(function, file:line)], innermost first (addr2line -i)."""
    out = subprocess.run(
        ["aarch64-linux-gnu-addr2line", "-e", ko, "-j", ".text", "-f", "-i",
         "-a"], input="\n".join(hex(a) for a in addrs), capture_output=True,
        text=True, check=True).stdout.splitlines()
    where, cur = {}, None
    for line in out:
        if line.startswith("0x"):
            cur = int(line, 16)
            where[cur] = []
        else:
            where[cur].append(line)
    return {a: [(w[k], w[k + 1].split("/")[-1].split(" ")[0])
                for k in range(0, len(w) - 1, 2)]
            for a, w in where.items()}


def main():
    log, tb, ko = sys.argv[1:4]
    per = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    by_sym, by_ko_addr = counts(log, tb, ko_text_symbols(ko))
    print(f"total {sum(by_sym.values()) / per:.1f}")
    for name, n in by_sym.most_common(60):
        print(f"{n / per:10.1f} {name}")
    where = frames_of(ko, list(by_ko_addr))
    by_func, by_line = collections.Counter(), collections.Counter()
    for a, n in by_ko_addr.items():
        frames = where.get(a, [])
        if frames:
            by_func[frames[0][0]] += n
            by_line[" <- ".join(f"{f}@{l}" for f, l in frames[:3])] += n
    print("== rerand.ko by innermost function")
    for f, n in by_func.most_common(40):
        print(f"{n / per:8.1f} {f}")
    print("== rerand.ko by line")
    for l, n in by_line.most_common(60):
        print(f"{n / per:8.1f} {l}")


if __name__ == "__main__":
    main()
