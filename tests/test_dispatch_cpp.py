"""The dispatch means what the model means: compile the emitted machete_mm_dispatch.cu with the
host C++ compiler, link it against stub entry points that record which one ran, and check that
C++ and the Python model pick the same schedule over a grid holding every rule boundary."""

from __future__ import annotations

import bisect
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from machete_gen_pipeline import Options, generate
from machete_ir import cpp_contract as C
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir import names

ROOT = Path(__file__).resolve().parent.parent
BOUNDARIES = [1, 8, 9, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 4069, 4070, 4096, 4097, 6144, 6145,
              8191, 8192, 8193, 10239, 10240, 12288, 12289, 16383, 16384, 16385, 26623, 26624]


def _cut_points(heuristics, var: E.Var) -> set[int]:
    """Both sides of every constant the tables compare ``var`` with (c and c + 1)."""
    def cmps(cond):
        if isinstance(cond, E.Cmp):
            yield cond
        elif isinstance(cond, (E.And, E.Or)):
            for t in cond.terms:
                yield from cmps(t)
    return {c.rhs.value + d for h in heuristics for r in h.rules for c in cmps(r.cond)
            if c.lhs == var and isinstance(c.rhs, E.IntLit) for d in (0, 1)}



def cuda_include() -> Path | None:
    for base in filter(None, [shutil.which("nvcc") and Path(shutil.which("nvcc")).resolve().parent.parent,
                              Path("/usr/local/cuda")]):
        inc = Path(base) / "include"
        if (inc / "cuda_runtime_api.h").is_file():
            return inc
    return None


CXX = shutil.which("g++") or shutil.which("c++")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CXX is None or cuda_include() is None,
                                 reason="needs a host C++ compiler and the CUDA runtime headers")]

# Both drivers: the dispatch under test linked against stub entry points that record which ran.
DRIVER_PRELUDE = r"""
#include "machete/mm_args.h"
#include <cstdio>
#include <stdexcept>
namespace machete {
const char* g_called = "";
%(stubs)s
}
using namespace machete;
static const long long kVals[] = {%(vals)s};
"""

DRIVER = DRIVER_PRELUDE + r"""static const long long kM[] = {%(ms)s}, kN[] = {%(ns)s}, kK[] = {%(ks)s};
int main() {
  MMArgs a;
  a.a_type = ScalarKind::F16; a.b_type = ScalarKind::U4B8; a.out_type = ScalarKind::F16;
  a.group_scales_type = ScalarKind::F16;
  static const char* kDevices[] = {%(devices)s};
  for (const char* dev : kDevices) {
    a.device_name = dev;
    for (long long m : kM) for (long long n : kN) for (long long k : kK) {
      a.M = m; a.N = n; a.K = k;
      mm_dispatch(a, nullptr);
      std::printf("%%lld %%lld %%lld %%s %%s\n", m, n, k, g_called, heuristic_schedule(a).c_str());
    }
  }
  a.device_name = nullptr;
  // selection by name, alias accepted; unknown names and types raise
  mm_dispatch(a, "256x16_1x1x1_TmaMI_TmaCoop_streamK");
  std::printf("byname %%s\n", g_called);
  try { mm_dispatch(a, "128x8_1x1x1_TmaMI__TmaCoop_streamK"); } catch (std::invalid_argument const& e) { std::printf("error %%s\n", e.what()); }
  a.b_type = ScalarKind::S4;
  try { mm_dispatch(a, nullptr); } catch (std::invalid_argument const& e) { std::printf("error %%s\n", e.what()); }
  std::printf("supported %%zu %%zu\n",
      supported_schedules(ScalarKind::BF16, ScalarKind::U4, ScalarKind::BF16, ScalarKind::BF16, ScalarKind::Void, ScalarKind::Void, ScalarKind::BF16).size(),
      supported_schedules(ScalarKind::BF16, ScalarKind::U4, ScalarKind::BF16, ScalarKind::Void, ScalarKind::Void, ScalarKind::Void, ScalarKind::BF16).size());
  return 0;
}
"""


@pytest.fixture(scope="module")
def dispatch_run(tmp_path_factory) -> list[str]:
    d = tmp_path_factory.mktemp("dispatch")
    files = generate(Options(device_heuristics=DEVICE_TABLES))[1]
    (d / "dispatch.cpp").write_text(files["machete_mm_dispatch.cu"])
    stubs = _stubs(M.impl_configs())
    devices = ", ".join(["nullptr"] + [f'"{name}"' for name in DEVICE_NAMES[1:]])
    (d / "driver.cpp").write_text(DRIVER % {"stubs": stubs, "vals": ", ".join(map(str, BOUNDARIES)),
                                            "ms": ", ".join(map(str, M_VALS)), "ns": ", ".join(map(str, N_VALS)),
                                            "ks": ", ".join(map(str, K_VALS)), "devices": devices})
    return _build_and_run(d, "-O1")


def _stubs(impls) -> str:
    """One stub per entry point of ``impls``, recording its schedule name in g_called."""
    return "\n".join(f'void {names.entry_point(i.types, s)}(MMArgs const&) {{ g_called = "{s.name}"; }}'
                     for i in impls for s in i.schedules)


def _build_and_run(d: Path, opt: str) -> list[str]:
    """Compile d/dispatch.cpp + d/driver.cpp with the host compiler and return the driver's lines."""
    exe = d / "driver"
    subprocess.run([CXX, "-std=c++17", opt, f"-I{ROOT / 'csrc'}", f"-I{cuda_include()}",
                    str(d / "dispatch.cpp"), str(d / "driver.cpp"), "-o", str(exe)],
                   check=True, capture_output=True, timeout=300)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                          timeout=60).stdout.splitlines()


# device names the driver runs the grid on: none (the default table), then one per GPU table; the
# per-GPU table here is SPEC's (a real table that differs from the default at many points)
DEVICE_TABLES = (M.DeviceHeuristic(device="H200", heuristic=M.SPEC_HEURISTIC),)
DEVICE_NAMES = [None, "NVIDIA H200"]
TABLES = {None: M.H100_HEURISTIC, "NVIDIA H200": M.SPEC_HEURISTIC}
# the grid the driver runs on both: BOUNDARIES plus each side of every bound of these tables, so
# every rule's edges are covered
M_VALS, N_VALS, K_VALS = (sorted(set(BOUNDARIES) | _cut_points(TABLES.values(), v)) for v in (E.M, E.N, E.K))


def _first_rules(table, ms, ns, ks) -> list[int]:
    """The index of the first rule of ``table`` matching each (m, n, k) of the grid ms x ns x ks
    (sorted values, row-major), from each rule's box (E.box_of: the conditions are intervals) --
    the grid has a few hundred thousand points, too many for Heuristic.select one by one."""
    nn, nk = len(ns), len(ks)
    out = [-1] * (len(ms) * nn * nk)

    def span(vals, lo, hi):
        return bisect.bisect_left(vals, lo), bisect.bisect_right(vals, hi)

    for i, r in enumerate(table.rules):
        (mlo, mhi), (nlo, nhi), (klo, khi) = E.box_of(r.cond)
        k0, k1 = span(ks, klo, khi)
        for a in range(*span(ms, mlo, mhi)):
            for b in range(*span(ns, nlo, nhi)):
                base = (a * nn + b) * nk
                out[base + k0: base + k1] = [i if x < 0 else x for x in out[base + k0: base + k1]]
    return out


@pytest.mark.parametrize("device", range(len(DEVICE_NAMES)))
def test_cpp_and_python_pick_the_same_schedule_on_every_boundary(dispatch_run, device):
    t = M.TYPE_CONFIGS[0]
    name = DEVICE_NAMES[device]
    table = TABLES[name]
    grid = list(itertools.product(M_VALS, N_VALS, K_VALS))
    rows = [line.split() for line in dispatch_run[device * len(grid): (device + 1) * len(grid)]]
    assert len(rows) == len(grid)
    impl = M.impl_configs(device_heuristics=DEVICE_TABLES)[0]
    assert impl.types == t
    chosen = M.heuristic_for_device(impl, name)
    first = _first_rules(table, M_VALS, N_VALS, K_VALS)
    # the box-based first match is the model's own pick: Heuristic.select on every 37th point
    for i in range(0, len(grid), 37):
        assert chosen.select(*grid[i]) == table.select(*grid[i]) == table.rules[first[i]].schedule, grid[i]
    seen = set()
    for (m, n, k), (cm, cn, ck, called, reported), r in zip(grid, rows, first):
        assert (int(cm), int(cn), int(ck)) == (m, n, k)
        want = table.rules[r].schedule.name
        assert called == want and reported == want, (name, m, n, k)
        seen.add(want)
    assert seen == {s.name for s in table.schedules}  # the grid reaches every schedule
    assert set(first) == set(range(len(table.rules)))  # ... and every rule


def test_cpp_selection_by_name_and_errors(dispatch_run):
    tail = dispatch_run[-4:]
    assert tail[0] == "byname 256x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert tail[1].startswith("error machete::mm: schedule '128x8_1x1x1_TmaMI__TmaCoop_streamK' is not built")
    assert tail[2].startswith("error machete::mm_dispatch: no kernel for this combination of types; implemented: f16u4b8")
    assert tail[3] == "supported 26 0"


# ---- a filtered build routes every (M, N, K) to a built schedule (issue 8 item 5) -----------------

FILTERED_SCHEDULES = ("128x16_1x1x1_TmaMI__TmaCoop_streamK", "256x64_2x1x1_TmaMI__TmaCoop_streamK",
                      "128x8_w8s4k64_DecodeMma_clusterK")
FILTERED_DRIVER = DRIVER_PRELUDE + r"""int main() {
  for (int t = 0; t < %(ntypes)d; ++t) {
    MMArgs a;
    switch (t) {
%(cases)s
    }
    for (long long m : kVals) for (long long n : kVals) for (long long k : kVals) {
      a.M = m; a.N = n; a.K = k;
      g_called = "";
      try {
        mm_dispatch(a, nullptr);
        std::printf("%%d %%lld %%lld %%lld %%s\n", t, m, n, k, g_called);
      } catch (std::exception const& e) {
        std::printf("%%d %%lld %%lld %%lld error %%s\n", t, m, n, k, e.what());
      }
    }
  }
  return 0;
}
"""


def test_filtered_build_routes_every_shape_to_a_built_schedule(tmp_path):
    """--schedules keeps 2 of the 9 SPEC schedules and 1 decode one (the only one the W4A8 types keep): without the route
    pass most shapes threw "not built". Each C++ pick must be the model's pick mapped to the
    nearest built schedule (passes/route.py)."""
    from machete_ir import cpp_contract as C
    from passes.route import nearest

    opts = Options(schedules=FILTERED_SCHEDULES, w4a8=True)
    from machete_gen_pipeline import select_impls

    impls = select_impls(opts)
    types = [impls[0], impls[-1]]  # f16 u4b8 (SPEC heuristic) and a W4A8 type (its own heuristic)
    assert types[1].types in M.W4A8_TYPE_CONFIGS and len(types[1].schedules) == 1
    (tmp_path / "dispatch.cpp").write_text(generate(opts)[1]["machete_mm_dispatch.cu"])
    stubs = _stubs(impls)
    cases = "\n".join(
        f"      case {t}: " + " ".join(f"a.{f} = ScalarKind::{C.scalar_kind(d)};" for f, d in zip(
            C.MM_TYPE_FIELDS, (i.types.a, i.types.b, i.types.b_group_scale, i.types.b_group_zeropoint,
                               i.types.b_channel_scale, i.types.a_token_scale, i.types.out))) + " break;"
        for t, i in enumerate(types))
    (tmp_path / "driver.cpp").write_text(FILTERED_DRIVER % {
        "stubs": stubs, "vals": ", ".join(map(str, BOUNDARIES)), "ntypes": len(types), "cases": cases})
    lines = _build_and_run(tmp_path, "-O0")
    assert len(lines) == 2 * len(BOUNDARIES) ** 3
    seen = set()
    # M.select_schedule(types, m, n, k) is this table's select; built once per type, not per point
    tables = [M.heuristic_for_device(M.impl_for(i.types, None), None) for i in types]
    routed: dict = {}
    for line in lines:
        t, m, n, k, called = line.split(" ", 4)
        impl = types[int(t)]
        model_pick = tables[int(t)].select(int(m), int(n), int(k))
        if (t, model_pick) not in routed:
            assert model_pick == M.select_schedule(impl.types, int(m), int(n), int(k))
            routed[t, model_pick] = nearest(model_pick, impl.schedules).name
        assert called == routed[t, model_pick], line
        seen.add(called)
    assert seen == set(FILTERED_SCHEDULES)
