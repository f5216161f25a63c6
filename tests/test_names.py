from __future__ import annotations

import itertools

import pytest

from machete_ir import model as M
from machete_ir import names


def test_schedule_names_and_alias():
    s = M.schedule("128x16", "1x1x1")
    assert s.name == "128x16_1x1x1_TmaMI__TmaCoop_streamK"
    assert M.schedule_alias(s.name) == "128x16_1x1x1_TmaMI_TmaCoop_streamK"
    assert M.canonical_schedule_name("128x16_1x1x1_TmaMI_TmaCoop_streamK") == s.name
    assert M.parse_schedule_name("256x64_2x1x1_TmaMI_TmaCoop_streamK") == M.schedule("256x64", "2x1x1")


@pytest.mark.parametrize("bad", ["", "128x16", "128x16_1x1x1", "128x16_1x1x1_TmaMI___TmaCoop_streamK",
                                 "axb_1x1x1_TmaMI__TmaCoop_streamK"])
def test_malformed_schedule_names(bad):
    with pytest.raises(ValueError, match="malformed schedule name"):
        M.parse_schedule_name(bad)


def test_mangling_is_injective_over_config_space():
    """Every (type, schedule) of the whole space -- not only the active set -- gets its own
    entry-point symbol, and every type/schedule its own signature/struct name."""
    types = M.TYPE_CONFIGS + M.W4A8_TYPE_CONFIGS
    scheds = [M.ScheduleConfig(tile_n=tn, tile_m=tm, cluster=(c0, c1, 1))
              for tn in (64, 128, 256) for tm in (8, 16, 32, 64, 128, 256)
              for c0, c1 in ((1, 1), (2, 1), (1, 2), (2, 2), (4, 1))]
    sigs = [t.signature for t in types]
    assert len(set(sigs)) == len(sigs)
    structs = [names.schedule_struct(s) for s in scheds]
    assert len(set(structs)) == len(structs)
    entries = [names.entry_point(t, s) for t, s in itertools.product(types, scheds)]
    assert len(set(entries)) == len(entries)
    assert all(e.isidentifier() for e in entries)
    # round trip: every name parses back to its schedule
    assert all(M.parse_schedule_name(s.name) == s for s in scheds)
