"""`llmkit eval` on one process with several CPU threads generates greedy batches two at a time
(llmkit.models.batch_threads), with the predictions of one batch at a time."""

import json

import torch

import llmkit.generation

PAIRS = [
    {"translation": {"en": "the king is dead", "ro": "regele a murit"}},
    {"translation": {"en": "long live the king", "ro": "trăiască regele"}},
    {"translation": {"en": "what light through yonder window breaks", "ro": "ce lumină"}},
    {"translation": {"en": "a much longer source sentence than the others", "ro": "x"}},
    {"translation": {"en": "to be", "ro": "a fi"}},
]


def test_greedy_eval_keeps_two_batches_in_flight_with_the_same_predictions(
    cli, tiny_t5_dir, jsonl, tmp_path, monkeypatch
):
    workers_seen = []
    real_map_in_flight = llmkit.generation.map_in_flight

    def spy(run, items, workers):
        workers_seen.append(workers)
        return real_map_in_flight(run, items, workers)

    monkeypatch.setattr(llmkit.generation, "map_in_flight", spy)
    args = ["eval", "--model", tiny_t5_dir, "--data", jsonl("test.jsonl", PAIRS),
            "--set", "columns.source=translation.en", "--set", "columns.target=translation.ro",
            "--set", "generation.max_new_tokens=6", "--set", "batch_size=2"]  # fmt: skip
    predictions = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)  # the autouse one_thread fixture restores it
        out = tmp_path / f"threads{threads}"
        result = cli(*args, "--output-dir", out)
        assert result.exit_code == 0, result.output
        predictions[threads] = (out / "predictions.jsonl").read_text()
    assert workers_seen == [1, 2]  # 3 batches: one at a time on 1 thread, two in flight on 2
    assert predictions[2] == predictions[1]
    assert len([json.loads(line) for line in predictions[1].splitlines()]) == len(PAIRS)
