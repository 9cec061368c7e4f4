"""scripts/benchlib.py: the interleaving and the per-pair ratio summary every benchmark reports.

scripts/ is not a package, so the module is loaded from its path.
"""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "scripts" / "benchlib.py"


@pytest.fixture(scope="module")
def benchlib():
    spec = importlib.util.spec_from_file_location("benchlib", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sides_alternate_and_flip_order_each_repetition(benchlib):
    calls = []
    runs = benchlib.interleave(
        {
            "a": lambda rep: calls.append(("a", rep)) or rep,
            "b": lambda rep: calls.append(("b", rep)),
        },
        repeats=3,
    )
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert runs["a"] == [0, 1, 2]


def test_the_ratio_is_the_median_of_per_pair_ratios_not_of_totals(benchlib):
    # a burst of load slows one pair 10x on both sides: the pair ratio barely moves, the medians
    # of each side alone would not tell that, and the min/max show the spread
    spread = benchlib.ratio_spread([2.0, 20.0, 3.0], [1.0, 10.0, 1.0])
    assert (spread.median, spread.low, spread.high, spread.pairs) == (2.0, 2.0, 3.0, 3)
    assert spread.figures("x") == {"x": 2.0, "x_min": 2.0, "x_max": 3.0}


def test_unpaired_measurements_are_refused(benchlib):
    with pytest.raises(ValueError, match="equal"):
        benchlib.ratio_spread([1.0, 2.0], [1.0])


def test_result_line_ends_the_run_with_load_averages(benchlib, capsys):
    run = benchlib.Run("demo")
    run.finish({"speedup": 1.5, "identical": True, "rows": 3})
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("machine: ") and "load average at start" in out[2]
    assert out[-1].startswith("RESULT speedup=1.50 identical=true rows=3 load_start=")
    assert " load_end=" in out[-1]
