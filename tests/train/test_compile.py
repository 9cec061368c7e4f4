"""`train.compile: true` trains the same model as eager mode: the compiled forward-and-loss graph
is an optimisation, not a different computation."""

import pytest
from pretrain_helpers import final_weights, metric_rows, tiny_config

from llmkit.train.stage import run_training


@pytest.mark.parametrize("task", ["clm", "mlm"])
def test_compiled_run_matches_eager_run(tmp_path, clm_data_dir, mlm_data_dir, task):
    data = clm_data_dir if task == "clm" else mlm_data_dir
    common = dict(max_steps=6, precision="fp32", logging={"every_steps": 1, "trackers": []})
    eager = run_training(tiny_config(tmp_path / "eager", data, task=task, **common))
    compiled = run_training(
        tiny_config(tmp_path / "compiled", data, task=task, compile=True, **common)
    )
    a, b = final_weights(eager), final_weights(compiled)
    assert a.keys() == b.keys()  # saved without torch.compile's `_orig_mod.` prefixes
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    losses_eager = [r["loss"] for r in metric_rows(eager)]
    losses_compiled = [r["loss"] for r in metric_rows(compiled)]
    assert losses_compiled == pytest.approx(losses_eager, abs=1e-4)
