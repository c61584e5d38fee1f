#!/usr/bin/env python3
"""What one run executed more than another, per copy built.

usage: tb_diff.py A.log A.tb B.log B.tb RERAND_KO PER [DEPTH]

A and B are two runs of run.sh (console log with the guest's text symbols,
and tb_count.c's counts): the mover running against the mover paused, or
two builds of rerand.ko on the same workload. Prints A - B divided by PER
(e.g. the copies built in A): the total, by kernel symbol, and by
rerand.ko source line with DEPTH frames of the functions inlined around it
(addr2line -i on RERAND_KO, which must be the build A ran; its W=1 build
keeps the debug information). A block counts at the line of its first
instruction.
"""
import sys

from tb_lines import counts, frames_of, ko_text_symbols


def main():
    alog, atb, blog, btb, ko, per = sys.argv[1:7]
    per = float(per)
    depth = int(sys.argv[7]) if len(sys.argv) > 7 else 3
    in_ko = ko_text_symbols(ko)
    asym, ako = counts(alog, atb, in_ko)
    bsym, bko = counts(blog, btb, in_ko)
    print(f"total {(sum(asym.values()) - sum(bsym.values())) / per:.1f}")
    d = sorted(((asym[k] - bsym[k]) / per, k) for k in set(asym) | set(bsym))
    print("== by symbol")
    for v, k in d[::-1][:40]:
        print(f"{v:9.1f} {k}")
    addrs = sorted(set(ako) | set(bko))
    where = frames_of(ko, addrs)
    by_line = {}
    for a in addrs:
        frames = where.get(a, [])
        key = " <- ".join(f"{f}@{l}" for f, l in frames[:depth]) or hex(a)
        by_line[key] = by_line.get(key, 0.0) + (ako[a] - bko[a]) / per
    print("== rerand.ko by line")
    for k, v in sorted(by_line.items(), key=lambda x: -x[1])[:60]:
        print(f"{v:9.1f} {k}")


if __name__ == "__main__":
    main()
