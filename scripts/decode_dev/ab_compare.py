"""Same-machine A/B of two bench_mm.py runs of one build (e.g. with and without an environment
switch): per point, the heuristic's kernel-only time (CUDA graph) of run B over run A, and the
geomean over the points where the schedules differ in a given way. Development tool.

    python3 scripts/decode_dev/ab_compare.py A.csv B.csv [A2.csv]   # A2: a repeat of A (geomean of A, A2)
"""
import csv
import math
import sys


def load(path):
    return {(int(r["K"]), int(r["N"]), int(r["M"])): r for r in csv.DictReader(open(path))}


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    a2 = load(sys.argv[3]) if len(sys.argv) > 3 else a
    ratios = []
    for key in sorted(a, key=lambda k: (k[0], k[1], k[2])):
        if key not in b or key not in a2:
            continue
        ta = math.sqrt(float(a[key]["machete_heur_graph_us"]) * float(a2[key]["machete_heur_graph_us"]))
        tb = float(b[key]["machete_heur_graph_us"])
        ratios.append(tb / ta)
        print(f"{key[0]}x{key[1]} M={key[2]:5d} {a[key]['machete_heur_schedule']:36s} A {ta:7.2f} B {tb:7.2f} B/A {tb / ta:.3f}")
    g = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"{len(ratios)} points: geomean B/A {g:.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
