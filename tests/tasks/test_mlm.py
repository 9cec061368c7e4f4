"""MLM dynamic masking: ~15% of the ordinary tokens carry loss, split 80/10/10 between [MASK],
a random token and the original; special tokens never; whole words together."""

import pytest
import torch

from llmkit.config.load import validate
from llmkit.config.pretrain import PretrainConfig
from llmkit.errors import ConfigError
from llmkit.tasks.mlm import MaskedLMTask
from llmkit.tasks.spec import task_spec


def _task(tmp_path, tokenizer_dir, lines, **task_cfg) -> MaskedLMTask:
    """A MaskedLMTask over a small dataset in the preprocess output format."""
    import shutil

    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = tok(lines, truncation=True, max_length=48)["input_ids"]  # [CLS] … [SEP]
    data = tmp_path / "data"
    DatasetDict({"train": Dataset.from_dict({"input_ids": rows})}).save_to_disk(str(data))
    shutil.copytree(tokenizer_dir, data / "tokenizer")
    cfg = validate(
        PretrainConfig,
        {"model": {"family": "bert"}, "task": {"type": "mlm", **task_cfg},
         "data": {"dataset_dir": str(data)}},
    )  # fmt: skip
    task = MaskedLMTask(task_spec(cfg))
    task.splits = task.prepare_data().splits
    return task


def _big_batch(task):
    torch.manual_seed(0)
    examples = [task.splits["train"][i] for i in range(len(task.splits["train"]))]
    originals = task.pad_ids(examples)["input_ids"]
    return originals, task.collate(examples)


def test_masking_statistics_follow_the_80_10_10_rule(tmp_path, masked_tokenizer_dir, corpus_lines):
    task = _task(tmp_path, masked_tokenizer_dir, corpus_lines[:600])
    originals, batch = _big_batch(task)
    tok = task.tokenizer
    attended = batch.get("attention_mask", torch.ones_like(originals)).bool()
    special = torch.isin(originals, torch.tensor(tok.all_special_ids)) | ~attended
    chosen = batch["labels"] != -100

    assert not (chosen & special).any()  # [CLS], [SEP], [PAD] never carry loss
    assert torch.equal(batch["labels"][chosen], originals[chosen])
    assert (chosen.sum() / (~special).sum()).item() == pytest.approx(0.15, abs=0.01)
    inputs = batch["input_ids"][chosen]
    masked = (inputs == tok.mask_token_id).float().mean().item()
    unchanged = (inputs == originals[chosen]).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.03)
    assert unchanged == pytest.approx(0.1, abs=0.03)
    assert 1 - masked - unchanged == pytest.approx(0.1, abs=0.03)  # random replacements
    replaced = inputs[(inputs != tok.mask_token_id) & (inputs != originals[chosen])]
    assert not torch.isin(replaced, torch.tensor(tok.all_special_ids)).any()
    # positions not chosen are left untouched
    assert torch.equal(batch["input_ids"][~chosen], originals[~chosen])


def test_mlm_probability_is_configurable(tmp_path, masked_tokenizer_dir, corpus_lines):
    task = _task(tmp_path, masked_tokenizer_dir, corpus_lines[:400], mlm_probability=0.4)
    originals, batch = _big_batch(task)
    ordinary = ~torch.isin(originals, torch.tensor(task.tokenizer.all_special_ids))
    ordinary &= batch.get("attention_mask", torch.ones_like(originals)).bool()
    chosen_fraction = ((batch["labels"] != -100).sum() / ordinary.sum()).item()
    assert chosen_fraction == pytest.approx(0.4, abs=0.02)


def test_whole_word_masking_chooses_all_pieces_of_a_word(
    tmp_path, masked_tokenizer_dir, corpus_lines
):
    task = _task(tmp_path, masked_tokenizer_dir, corpus_lines[:600], whole_word_mask=True)
    originals, batch = _big_batch(task)
    pieces = task.tokenizer.convert_ids_to_tokens(originals.flatten().tolist())
    continuation = torch.tensor([p.startswith("##") for p in pieces]).view(originals.shape)
    chosen = batch["labels"] != -100
    # a continuation piece is chosen exactly when the piece before it is
    prev_chosen = torch.nn.functional.pad(chosen[:, :-1], (1, 0))
    assert continuation.any()
    assert torch.equal(chosen[continuation], prev_chosen[continuation])
    ordinary = ~torch.isin(originals, torch.tensor(task.tokenizer.all_special_ids))
    ordinary &= batch.get("attention_mask", torch.ones_like(originals)).bool()
    words = ordinary & ~continuation
    chosen_words = ((chosen & ~continuation).sum() / words.sum()).item()
    assert chosen_words == pytest.approx(0.15, abs=0.02)


def test_whole_word_masking_needs_word_boundary_markers(tmp_path, corpus_lines):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    char = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    char.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    char.train_from_iterator(corpus_lines[:200], trainers.WordLevelTrainer(special_tokens=specials))
    tok_dir = tmp_path / "char-tok"
    PreTrainedTokenizerFast(
        tokenizer_object=char, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    ).save_pretrained(tok_dir)  # fmt: skip
    with pytest.raises(ConfigError, match="whole_word_mask"):
        _task(tmp_path, tok_dir, corpus_lines[:20], whole_word_mask=True)


def test_loss_is_summed_over_the_masked_tokens_only(tmp_path, masked_tokenizer_dir, corpus_lines):
    from transformers import BertConfig, BertForMaskedLM

    task = _task(tmp_path, masked_tokenizer_dir, corpus_lines[:16])
    _, batch = _big_batch(task)
    model = BertForMaskedLM(
        BertConfig(vocab_size=len(task.tokenizer), hidden_size=32, num_hidden_layers=1,
                   num_attention_heads=2, intermediate_size=64)
    ).eval()  # fmt: skip
    with torch.no_grad():
        mean = model(**batch).loss  # transformers: mean over labels != -100
        total = task.loss_sum(model, batch)
    expected = mean.item() * int(task.count_loss_items(batch))
    assert total.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("whole_word_mask", [False, True])
def test_a_rows_masks_do_not_depend_on_the_other_rows_of_its_batch(
    tmp_path, masked_tokenizer_dir, corpus_lines, whole_word_mask
):
    """Accelerate completes a process's short last validation batch with rows from the start:
    the real rows must be masked as in the short batch one process makes of them."""
    task = _task(tmp_path, masked_tokenizer_dir, corpus_lines[:40], mlm_probability=0.5,
                 whole_word_mask=whole_word_mask)  # fmt: skip
    rows = [task.splits["train"][i] for i in range(40)]
    short = sorted(rows, key=lambda r: len(r["input_ids"]))[10:13]
    longest = max(rows, key=lambda r: len(r["input_ids"]))

    def masked(examples):
        torch.manual_seed(5)  # the loop seeds each batch by its position
        return task.collate(examples)

    alone, completed = masked(short), masked(short + [longest, short[0]])
    width = alone["input_ids"].shape[1]
    assert completed["input_ids"].shape[1] > width  # the completed batch is padded wider
    for key in ("input_ids", "labels"):
        assert torch.equal(completed[key][:3, :width], alone[key])
    assert (alone["labels"] != -100).sum() > 5
