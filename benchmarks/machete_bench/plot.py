"""results.png: time vs M, one panel per (shape, type), every implementation a line, the floor dashed
(matplotlib imported lazily; absent on CPU dev machines is fine)."""
from __future__ import annotations

from typing import Any, Sequence

from .targets import eff_time


def write_plot(rows: Sequence[dict[str, Any]], path: str) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001 - any import problem just means no plot
        return f"no plot: matplotlib unavailable ({e})"
    shapes = list(dict.fromkeys((r["K"], r["N"]) for r in rows))
    types = list(dict.fromkeys(r["type"] for r in rows))
    if not shapes:
        return "no plot: no rows"
    fig, axes = plt.subplots(len(shapes), len(types), figsize=(4.2 * len(types), 3.2 * len(shapes)),
                             squeeze=False)
    # fixed colours: a panel without one series must not shift the others' colours
    series = (("machete heuristic", "heur", "-o", "C0"), ("machete best", "best", "-s", "C1"),
              ("cuBLAS", "cublas", "-^", "C2"), ("torch int4pack", "int4pack", "-v", "C3"),
              ("Marlin (vLLM)", "marlin", "-D", "C4"), ("vLLM Machete", "vllm_machete", "-x", "C5"))
    for i, (k, n) in enumerate(shapes):
        for j, t in enumerate(types):
            ax = axes[i][j]
            sel = sorted((r for r in rows if (r["K"], r["N"]) == (k, n) and r["type"] == t), key=lambda r: r["M"])
            for label, impl, style, color in series:
                pts = [(r["M"], eff_time(r, impl)) for r in sel]
                pts = [(m, v) for m, v in pts if v is not None]
                if pts:
                    ax.plot(*zip(*pts), style, color=color, label=label, markersize=3)
            fl = [(r["M"], r["floor_us"]) for r in sel if r["floor_us"]]
            if fl:
                ax.plot(*zip(*fl), "k--", label="floor (mem/compute)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"K={k} N={n} {t}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.tick_params(labelsize=7)
            if i == len(shapes) - 1:
                ax.set_xlabel("M")
            if j == 0:
                ax.set_ylabel("us (lower is better)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        axes[0][0].legend(handles, labels, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return f"plot: {path}"
