"""W4A8 benchmark: machete.mm on 8-bit activations (int8, float8_e4m3fn) x u4b8 weights, side by side
in one run with torch's 8-bit GEMMs on 8-bit weights (torch._int_mm, torch._scaled_mm: they move
twice the weight bytes), our own W4A16 (f16 x u4b8 g128) and the memory floor, kernel-only times
(CUDA graph, median) with weights rotated past L2. Writes CSV and markdown and prints a summary.

    python benchmarks/bench_w4a8.py [--ms 1,16,32,64,1024] [--shapes spec|KxN,...] [--bw 3.0e12] [--out-dir DIR]

Floor: (int4 weights + f16 group scales + f32 channel scales + 8-bit activations + f16 output)
bytes / --bw (the measured copy bandwidth: 3.0e12 on the H100 80GB HBM3). torch._int_mm and
torch._scaled_mm need M > 16 and M % 16 == 0 respectively; smaller M is padded to 32 (what a
caller of those ops has to do), and the padded time is what is reported.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from machete_bench.cli import number_arg, parse_ms, parse_shapes  # noqa: E402
from machete_bench.targets import geomean  # noqa: E402
from machete_bench.timing import Timer, n_copies, rotation_target_bytes  # noqa: E402

# the W4A8 types --promote-schedules can time on each forced schedule
PROMOTE_TYPES = ("s8_g128", "e4m3_g128", "e4m3_ch")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ms", type=parse_ms, default=parse_ms("1,16,32,64,256,1024"), help="M list, e.g. 1,16")
    ap.add_argument("--shapes", type=parse_shapes, default=parse_shapes("spec"),
                    help="'spec' (the SPEC §7 layers) or KxN,KxN,...")
    ap.add_argument("--bw", type=number_arg(float, 0, strict=True), default=3.0e12, help="bytes/s for the memory floor")
    ap.add_argument("--out-dir", default="bench_w4a8_out")
    ap.add_argument("--target-ms", type=number_arg(float, 0, strict=True), default=8.0)
    ap.add_argument("--s8ch-schedules", default="", help="also time s8 without group scales on these schedules (comma list)")
    ap.add_argument("--promote-schedules", default="",
                    help="also time s8 g128, e4m3 g128 and e4m3 without group scales on these schedules (comma list; "
                         "promote or decode)")
    ap.add_argument("--promote-types", default=",".join(PROMOTE_TYPES),
                    help=f"which of {', '.join(PROMOTE_TYPES)} --promote-schedules times (comma list)")
    args = ap.parse_args(argv)
    ptypes = [x for x in args.promote_types.split(",") if x]
    bad = [x for x in ptypes if x not in PROMOTE_TYPES]
    if bad:
        print(f"bench_w4a8: --promote-types: unknown {', '.join(bad)} (choose from {', '.join(PROMOTE_TYPES)})",
              file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("bench_w4a8: torch is not installed", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("bench_w4a8: no CUDA device (torch.cuda.is_available() is False); run this on the GPU machine",
              file=sys.stderr)
        return 2
    import machete
    from machete import reference as ref
    from machete import scalar_types as st

    if not machete.supported_schedules(torch.int8, st.uint4b8, torch.float16, None, torch.float32, torch.float32):
        print("bench_w4a8: the W4A8 types are not built (build with MACHETE_W4A8=1)", file=sys.stderr)
        return 2
    ms, shapes = args.ms, args.shapes
    timer = Timer(target_ms=args.target_ms)
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", None)
    target = rotation_target_bytes(l2)
    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}; floor bandwidth {args.bw / 1e12:.2f} TB/s", flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    cols = ["K", "N", "M", "floor_us", "s8_g128", "s8_ch", "e4m3_g128", "e4m3_ch", "w4a16_f16", "int_mm", "scaled_mm"]
    forced = [x for x in args.s8ch_schedules.split(",") if x]
    cols += [f"s8_ch@{x.split('_')[0]}{'D' if 'Decode' in x else ''}" for x in forced]
    promote = [x for x in args.promote_schedules.split(",") if x]
    kinds = {"s8_g128": (torch.int8, True), "e4m3_g128": (torch.float8_e4m3fn, True),  # keys: PROMOTE_TYPES
             "e4m3_ch": (torch.float8_e4m3fn, False)}
    promote_cols = [(f"{tag}@{x.split('_')[0]}{'D' if 'Decode' in x else 'P'}", *kinds[tag], x) for x in promote
                    for tag in ptypes]
    cols += [c[0] for c in promote_cols]
    rows = []
    one = torch.ones((), device="cuda")
    for (K, N) in shapes:
        copies = n_copies(K * N, target)  # sized for the 8-bit peers' weights (the largest)
        gen = torch.Generator(device="cuda").manual_seed(K + N)
        w = torch.randn(K, N, device="cuda", generator=gen)
        packs = {}
        for grouped in (True, False):
            qw = ref.quantize_w4a8(w, 128 if grouped else None)
            packed = ref.pack(qw.w_q, st.uint4b8)
            packs[grouped] = (qw, [machete.prepack_B(packed, torch.int8, st.uint4b8,
                                                     torch.float16 if grouped else None) for _ in range(n_copies(K * N // 2, target))])
        q16 = ref.quantize(w.half(), st.uint4b8, 128, scale_dtype=torch.float16)
        b16 = [machete.prepack_B(ref.pack(q16.w_q, st.uint4b8), torch.float16, st.uint4b8) for _ in range(len(packs[True][1]))]
        w8 = [torch.randint(-127, 127, (N, K), dtype=torch.int8, device="cuda").t() for _ in range(copies)]
        wf8 = [torch.randn(N, K, device="cuda").to(torch.float8_e4m3fn).t() for _ in range(copies)]
        for M in ms:
            a = torch.randn(M, K, device="cuda")
            floor = (K * N / 2 + K * N / 128 * 2 + N * 4 + M * K + M * N * 2) / args.bw * 1e6
            row = dict(K=K, N=N, M=M, floor_us=floor)
            quantized = {dt: ref.quantize_activations(a, dt) for dt in (torch.int8, torch.float8_e4m3fn)}

            def w4a8(a_dtype, grouped, schedule=None):
                (a_q, ts), (qw, bs) = quantized[a_dtype], packs[grouped]
                gs = qw.group_scales
                return lambda i: machete.mm(a_q, bs[i % len(bs)], st.uint4b8, group_scales=gs,
                                            group_size=128 if grouped else None, channel_scales=qw.channel_scales,
                                            token_scales=ts, schedule=schedule), len(bs)

            def timed(name, fn, n):  # a failing peer or schedule is reported, not fatal
                try:
                    row[name] = timer.graph(fn, n)
                except Exception as e:  # noqa: BLE001
                    print(f"  {name} K={K} N={N} M={M}: {type(e).__name__}: {str(e).splitlines()[0][:120]}", flush=True)
                    row[name] = float("nan")

            for a_dtype, tag in ((torch.int8, "s8"), (torch.float8_e4m3fn, "e4m3")):
                for grouped in (True, False):
                    row[f"{tag}_{'g128' if grouped else 'ch'}"] = timer.graph(*w4a8(a_dtype, grouped))
            for name, sched in zip(cols[11:], forced):
                timed(name, *w4a8(torch.int8, False, sched))
            for name, a_dtype, grouped, sched in promote_cols:
                timed(name, *w4a8(a_dtype, grouped, sched))
            a16 = a.half()
            row["w4a16_f16"] = timer.graph(lambda i: machete.mm(a16, b16[i % len(b16)], st.uint4b8, group_scales=q16.scales,
                                                                group_size=128), len(b16))
            Mp = M if (M > 16 and M % 16 == 0) else max(32, -(-M // 16) * 16)
            a8 = torch.randint(-127, 127, (Mp, K), dtype=torch.int8, device="cuda")
            af8 = torch.randn(Mp, K, device="cuda").to(torch.float8_e4m3fn)
            timed("int_mm", lambda i: torch._int_mm(a8, w8[i % copies]), copies)
            timed("scaled_mm", lambda i: torch._scaled_mm(af8, wf8[i % copies], one, one, out_dtype=torch.float16), copies)
            rows.append(row)
            print(" ".join(f"{c}={row[c]:.1f}" if isinstance(row[c], float) else f"{c}={row[c]}" for c in cols), flush=True)
        del packs, b16, w8, wf8
        torch.cuda.empty_cache()
    with open(os.path.join(args.out_dir, "w4a8.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        wr.writerows(rows)
    lines = [f"W4A8 on {dev}: kernel-only us (CUDA graph, median, weights rotated past L2); "
             f"x floor in brackets; torch peers on 8-bit weights (M padded to 32 below 17)", "",
             "| K x N | M | floor | s8 g128 | s8 ch | e4m3 g128 | e4m3 ch | W4A16 f16 | _int_mm | _scaled_mm |"
             + "".join(f" {c} |" for c in cols[11:]),
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(cols[11:])]
    for r in rows:
        f = r["floor_us"]
        cells = [f"{r[c]:.1f} ({r[c] / f:.2f})" for c in cols[4:9]] + [f"{r[c]:.1f}" for c in cols[9:]]
        lines.append(f"| {r['K']}x{r['N']} | {r['M']} | {f:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "SUMMARY"]
    for M in ms:
        sel = [r for r in rows if r["M"] == M]
        def gm(c, ref_c):
            v = [r[ref_c] / r[c] for r in sel if math.isfinite(r[ref_c]) and math.isfinite(r[c])]
            return math.exp(sum(map(math.log, v)) / len(v)) if v else float("nan")
        lines.append(f"M={M}: geomean x floor s8 {math.exp(sum(math.log(r['s8_g128'] / r['floor_us']) for r in sel) / len(sel)):.2f}; "
                     f"speedup of s8 g128 over _int_mm {gm('s8_g128', 'int_mm'):.2f}x, over _scaled_mm {gm('s8_g128', 'scaled_mm'):.2f}x, "
                     f"of e4m3 g128 over _scaled_mm {gm('e4m3_g128', 'scaled_mm'):.2f}x, of s8 g128 over W4A16 {gm('s8_g128', 'w4a16_f16'):.2f}x")
    # the heuristic's pick against the best of the forced schedules (a check of the W4A8 rules on
    # whatever shapes were run, e.g. held-out ones): its time / the fastest forced time, per type
    for tag in ptypes if promote else []:
        fcols = [c[0] for c in promote_cols if c[0].startswith(tag + "@")]
        ratios = []
        for r in rows:
            best = min((r[c] for c in fcols if math.isfinite(r[c])), default=float("nan"))
            if math.isfinite(best) and math.isfinite(r[tag]):
                ratios.append((r[tag] / best, r))
        if ratios:
            worst, wr = max(ratios, key=lambda x: x[0])
            lines.append(f"{tag}: heuristic pick / best forced schedule, geomean {geomean([x for x, _ in ratios]):.3f} over "
                         f"{len(ratios)} points, worst {worst:.3f} ({wr['K']}x{wr['N']} M={wr['M']}), "
                         f"{sum(x > 1.03 for x, _ in ratios)} points > 1.03")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out_dir, "w4a8.md"), "w") as f:
        f.write(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
