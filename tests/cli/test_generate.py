"""`llmkit generate` through the real CLI: prompts, input files, saved outputs, interactive."""

import json

import pytest


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, causal_tokenizer_dir, tiny_model):
    out = tmp_path_factory.mktemp("gen_gpt2")
    return tiny_model("gpt2", "AutoModelForCausalLM", causal_tokenizer_dir, out)


pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(output: str) -> list[dict]:
    # stdout and stderr are mixed here; outputs are the JSON lines
    return [json.loads(line[line.index("{") :]) for line in output.splitlines() if "{" in line]


def test_prompts_and_input_file_in_order_and_saved(cli, gpt2_dir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "ROMEO:"}\n{"prompt": "To be, or not"}\n', encoding="utf-8")
    out = tmp_path / "gen"
    result = cli("generate", gpt2_dir, "--prompt", "First Citizen:", "--input-file", prompts,
                 "--set", "generation.max_new_tokens=4", "--set", f"output_dir={out}")  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = _rows(result.output)
    assert [r["prompt"] for r in printed] == ["First Citizen:", "ROMEO:", "To be, or not"]
    saved = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert saved == printed
    assert (out / "llmkit_config.yaml").is_file()


def test_seeded_sampling_repeats_exactly(cli, gpt2_dir):
    args = ("generate", gpt2_dir, "-p", "ROMEO:", "-p", "JULIET:", "--set", "generation.do_sample=true",
            "--set", "generation.max_new_tokens=6", "--set", "generation.seed=3")  # fmt: skip
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0
    assert _rows(first.output) == _rows(second.output)


def test_interactive_streams_until_an_empty_line(gpt2_dir):
    from typer.testing import CliRunner

    from llmkit.cli.app import app

    result = CliRunner().invoke(
        app,
        ["generate", str(gpt2_dir), "--interactive", "--set", "generation.max_new_tokens=3"],
        input="ROMEO:\n\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("> ") == 2  # one prompt answered, then the empty line ends


def test_not_a_model_and_no_prompts_exit_2(cli, gpt2_dir, tmp_path):
    result = cli("generate", tmp_path, "--prompt", "hi")
    assert result.exit_code == 2 and "not a model directory" in result.output
    result = cli("generate", gpt2_dir)
    assert result.exit_code == 2 and "no prompts" in result.output
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"text": "hi"}\n')
    result = cli("generate", gpt2_dir, "--input-file", bad)
    assert result.exit_code == 2 and "no field 'prompt' (present: text)" in result.output


def test_a_model_that_is_neither_a_directory_nor_loadable_exits_2(cli, tmp_path):
    result = cli("generate", str(tmp_path / "no-such-model"), "--prompt", "hi")
    assert result.exit_code == 2
    assert "cannot load" in result.stderr and "no such local directory" in result.stderr


def test_a_model_directory_whose_config_names_no_model_type_exits_2(cli, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    result = cli("generate", str(tmp_path / "model"), "--prompt", "hi")
    assert result.exit_code == 2, result.output
    assert f"model: {tmp_path / 'model'}/config.json names no model_type" in result.stderr


def test_output_dir_is_refused_unless_empty_or_an_earlier_generate_with_force(
    cli, gpt2_dir, tmp_path
):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    args = ["generate", gpt2_dir, "--prompt", "ROMEO:", "--set", "generation.max_new_tokens=2"]
    result = cli(*args, "--set", f"output_dir={mine}", "--force")
    assert result.exit_code == 2 and "files llmkit did not write (notes.txt)" in result.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]

    out = tmp_path / "gen"
    assert cli(*args, "--set", f"output_dir={out}").exit_code == 0
    again = cli(*args, "--set", f"output_dir={out}")
    assert again.exit_code == 2 and "earlier `llmkit generate` output" in again.stderr
    assert cli(*args, "--set", f"output_dir={out}", "--force").exit_code == 0


@pytest.mark.parametrize(
    ("family", "auto_class"),
    [
        ("bert", "AutoModelForSequenceClassification"),
        ("bert", "AutoModelForMaskedLM"),
        ("bert", "AutoModel"),  # a bare encoder, no head at all
    ],
)
def test_a_model_whose_head_does_not_generate_exits_2(
    cli, causal_tokenizer_dir, tiny_model, tmp_path, family, auto_class
):
    # loaded as a causal LM, its encoder got a fresh random LM head and printed noise, exit 0
    model_dir = tiny_model(family, auto_class, causal_tokenizer_dir, tmp_path / "model")
    result = cli("generate", model_dir, "--prompt", "ROMEO:")
    assert result.exit_code == 2, result.output
    assert "does not generate text" in result.output
