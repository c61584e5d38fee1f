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


def main():
    log, counts, ko = sys.argv[1:4]
    per = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    syms = kallsyms(log)
    starts = [s[0] for s in syms]
    nm = subprocess.run(["aarch64-linux-gnu-nm", ko], capture_output=True,
                        text=True, check=True).stdout
    in_ko = {f[2]: int(f[0], 16) for f in map(str.split, nm.splitlines())
             if len(f) == 3 and f[1] in "tT"}
    by_sym, by_ko_addr = collections.Counter(), collections.Counter()
    for line in open(counts):
        vaddr, insns, runs = line.split()
        vaddr, n = int(vaddr, 16), int(insns) * int(runs)
        i = bisect.bisect_right(starts, vaddr) - 1
        if i < 0 or vaddr - starts[i] > 0x10000:
            by_sym["(no symbol: module copies, or beyond)"] += n
            continue
        addr, name, mod = syms[i]
        by_sym[f"{name} {mod}".strip()] += n
        if mod == "[rerand]" and name in in_ko:
            by_ko_addr[in_ko[name] + vaddr - addr] += n
    print(f"total {sum(by_sym.values()) / per:.1f}")
    for name, n in by_sym.most_common(60):
        print(f"{n / per:10.1f} {name}")
    addrs = list(by_ko_addr)
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
    by_func, by_line = collections.Counter(), collections.Counter()
    for a, n in by_ko_addr.items():
        w = where.get(a, [])
        frames = [(w[k], w[k + 1].split("/")[-1]) for k in range(0, len(w) - 1, 2)]
        if frames:
            by_func[frames[0][0]] += n
            by_line[" <- ".join(f"{f}@{l}" for f, l in frames[:3])] += n
    print("== rerand.ko by innermost function")
    for f, n in by_func.most_common(40):
        print(f"{n / per:8.1f} {f}")
    print("== rerand.ko by line")
    for l, n in by_line.most_common(60):
        print(f"{n / per:8.1f} {l}")


main()
