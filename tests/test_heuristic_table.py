"""Heuristic tables (``--heuristic-table``): whatever a table holds, it either lowers to C++ that
compiles or is rejected with one line naming the file, the rule number and the field (issue 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from machete_gen_pipeline import Options, generate
from machete_ir import expr as E
from machete_ir import model as M
from machete_ir.heuristic_table import heuristic_from_dict, load_heuristic

ROOT = Path(__file__).resolve().parent.parent
GEN = [sys.executable, str(ROOT / "generate_machete.py")]
S16 = "128x16_1x1x1_TmaMI__TmaCoop_streamK"
DEFAULT = {"when": [], "schedule": S16}


def _table(*rules, name="t") -> dict:
    return {"name": name, "rules": [*rules, DEFAULT]}


def _when(*terms) -> dict:
    return {"when": [list(t) for t in terms], "schedule": "256x16_1x1x1_TmaMI__TmaCoop_streamK"}


BAD = [
    # (table, the message after "<file>: ")
    ([1], "the table must be a JSON object with 'name', 'rules', got [1]"),
    ({}, "field 'rules' is missing"),
    ({"rules": []}, "field 'rules' must be a non-empty list of rules ending in the unconditional default, got []"),
    ({"rules": {"when": []}}, "field 'rules' must be a non-empty list"),
    ({"rules": [DEFAULT], "nmae": "x"}, 'the table: unknown field "nmae"'),
    ({"name": 7, "rules": [DEFAULT]}, "field 'name' must be a string, got 7"),
    ({"rules": ["x", DEFAULT]}, "rule 1 must be a JSON object with 'when', 'schedule', got \"x\""),
    ({"rules": [{"when": []}]}, "rule 1: field 'schedule' is missing"),
    ({"rules": [{"schedule": S16}]}, "rule 1: field 'when' is missing"),
    ({"rules": [dict(DEFAULT, shedule=1)]}, 'rule 1: unknown field "shedule"'),
    (_table({"when": "M>1", "schedule": S16}), "rule 1: field 'when' must be a list of [variable, operator, integer] terms"),
    (_table(_when(("M",))), "rule 1: field 'when': term 1: expected [variable, operator, integer], got [\"M\"]"),
    (_table(_when(("M", ">", 1, 2))), "rule 1: field 'when': term 1: expected [variable, operator, integer]"),
    (_table(_when(("M", ">", 1), ("Q", ">", 1))), "rule 1: field 'when': term 2: unknown variable \"Q\" (M, N or K)"),
    (_table(_when(("M", "!=", 1))), "rule 1: field 'when': term 1: unknown operator \"!=\""),
    (_table(_when(("M", ">", True))), "rule 1: field 'when': term 1: the bound must be an integer, got true"),
    (_table(_when(("M", ">", 1.0))), "rule 1: field 'when': term 1: the bound must be an integer, got 1.0"),
    (_table(_when(("M", ">", "1"))), "rule 1: field 'when': term 1: the bound must be an integer, got \"1\""),
    (_table(_when(("M", ">", 2**63))), "rule 1: field 'when': term 1: the bound 9223372036854775808 is outside the int64_t range"),
    (_table(_when(("M", ">", -2**63))), "rule 1: field 'when': term 1: the bound -9223372036854775808 is outside"),
    (_table(_when(("M", ">", 2**63 - 1))), "rule 1: field 'when': M > 9223372036854775807 matches no (M, N, K)"),
    (_table(_when(("M", "<", 1))), "rule 1: field 'when': M < 1 matches no (M, N, K)"),
    (_table(_when(("M", ">", 4)), _when(("M", ">", 8))), "rule 2: field 'when': M > 8 is unreachable"),
    ({"rules": [DEFAULT, DEFAULT]}, "rule 1: field 'when': empty (unconditional) but not the last rule"),
    ({"rules": [_when(("M", ">", 1))]}, "rule 1: field 'when': the last rule must be the unconditional default"),
    (_table({"when": [], "schedule": 5}), "rule 1: field 'when': empty"),
    ({"rules": [{"when": [], "schedule": 5}]}, "rule 1: field 'schedule' must be a schedule name, got 5"),
    ({"rules": [{"when": [], "schedule": "fast"}]}, "rule 1: field 'schedule': malformed schedule name 'fast'"),
    ({"rules": [{"when": [], "schedule": "96x16_1x1x1_TmaMI__TmaCoop_streamK"}]}, "rule 1: field 'schedule': invalid N tile 96"),
    (_table(name="h100-tuned"), "field 'name': heuristic name 'h100-tuned' cannot be part of a C++ identifier"),
    (_table(name='x\n#include "/etc/hostname"\n'), "field 'name': heuristic name 'x\\n#include"),
    (_table(name="a/*b*/"), "field 'name': heuristic name 'a/*b*/' cannot"),
    (_table(name="a__b"), "field 'name': heuristic name 'a__b' cannot"),
    (_table(name=""), "field 'name': heuristic name '' cannot"),
    (_table(name="x" * 65), "field 'name': heuristic name 'xxxx"),
    (_table(name="caf\u00e9"), "field 'name': heuristic name 'caf\u00e9' cannot"),
]


@pytest.mark.parametrize("data,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_table_is_one_line_naming_the_rule_and_field(tmp_path, data, message):
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_heuristic(p)
    text = str(e.value)
    assert text.startswith(f"{p}: {message}"), text
    assert "\n" not in text and "Error(" not in text and text.count(str(p)) == 1


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe{}", "not UTF-8 text (invalid start byte at byte 0)"),
    (b"{", "not valid JSON: Expecting property name enclosed in double quotes"),
    (b"[" * 100000, "not valid JSON: nested too deeply"),
    (b'{"rules": [{"when": [["M", ">", 1' + b"0" * 5000 + b'], "schedule": "x"}]}', "not valid JSON: a number has too many digits"),
])
def test_unreadable_table_names_the_file(tmp_path, content, message):
    p = tmp_path / "t.json"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="^" + __import__("re").escape(f"{p}: {message}")):
        load_heuristic(p)


def test_a_byte_order_mark_is_accepted(tmp_path):
    p = tmp_path / "t.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "bom", "rules": [DEFAULT]}).encode())
    assert load_heuristic(p).name == "bom"


@pytest.mark.parametrize("data,message", [
    ({}, "field 'rules' is missing"),
    (_table(_when(("M",))), 'rule 1: field \'when\': term 1: expected [variable, operator, integer], got ["M"]'),
    (_table(_when(("M", ">", True))), "rule 1: field 'when': term 1: the bound must be an integer, got true"),
    (_table(name="llama-70b tuned"), "field 'name': heuristic name 'llama-70b tuned' cannot be part of a C++ "
                                     "identifier: use ASCII letters, digits and single underscores, at most 64 "
                                     "characters (e.g. 'llama_70b_tuned')"),
])
def test_cli_table_errors_are_one_line_exit_2(tmp_path, data, message):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    r = subprocess.run(GEN + ["--heuristic-table", str(p), "--output-dir", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"generate_machete.py: error: {p}: {message}\n"
    assert not (tmp_path / "o").exists()


def test_model_rejects_names_and_constants_that_are_not_cpp():
    s = M.schedule("128x16", "1x1x1")
    for bad in ("h100-tuned", "a b", "x\ny", "a/*", "a__b", "_a", "a_", "a" * 65, "", 7):
        with pytest.raises(ValueError, match="cannot be part of a C\\+\\+ identifier"):
            M.Heuristic(name=bad, rules=(M.HeuristicRule(cond=None, schedule=s),))
    for ok in ("h100", "h100_tuned", "A1_b2", "7"):
        M.Heuristic(name=ok, rules=(M.HeuristicRule(cond=None, schedule=s),))
    for bad in (True, False, 2**63, -2**63, 1.5, "3"):
        with pytest.raises(ValueError, match="integer constant"):
            E.IntLit(value=bad)
    assert E.IntLit(value=2**63 - 1).value == 2**63 - 1 and E.IntLit(value=-(2**63 - 1))


@pytest.mark.parametrize("text,name", [
    ("llama-70b tuned", "llama_70b_tuned"), ("h100_tuned", "h100_tuned"), ("__a__b__", "a_b"),
    ('x\n#include "/etc/hostname"\n', "x_include_etc_hostname"), ("/*", "tuned"), ("caf\u00e9", "caf"),
    ("a" * 100, "a" * 64), ("a" * 63 + "-b", "a" * 63),
])
def test_sanitize_heuristic_name(text, name):
    assert M.sanitize_heuristic_name(text) == name
    M.Heuristic(name=name, rules=(M.HeuristicRule(cond=None, schedule=M.SCHEDULES[0]),))


def test_table_with_only_the_default_rule_lowers_to_one_return():
    h = heuristic_from_dict({"name": "single", "rules": [DEFAULT]})
    text = generate(Options(heuristic=h))[1]["machete_mm_dispatch.cu"]
    body = text.split("heuristic_single(int64_t M, int64_t N, int64_t K)\n{\n", 1)[1].split("}\n", 1)[0]
    assert body == f'  return "{S16}";\n'
    assert "{ } else {" not in text and "else" not in body


def test_table_constants_at_the_int64_edge_print_as_plain_literals():
    h = heuristic_from_dict(_table(_when(("M", "<=", 2**63 - 2)), name="edge"))
    text = generate(Options(heuristic=h))[1]["machete_mm_dispatch.cu"]
    assert "if (M <= 9223372036854775806) {" in text


def test_a_10000_rule_table_loads_in_seconds(tmp_path):
    """Loading checks reachability like verify (tests/test_passes.py times verify itself)."""
    import time

    rules = []
    for m in range(1, 5001):
        rules += [_when(("M", "<=", m), ("N", "<=", 4096)), {"when": [["M", "<=", m]], "schedule": S16}]
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"name": "big", "rules": rules[:-1] + [DEFAULT]}))
    t = time.perf_counter()
    h = load_heuristic(p)
    assert time.perf_counter() - t < 20
    assert len(h.rules) == 10_000
