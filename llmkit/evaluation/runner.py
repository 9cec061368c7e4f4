"""The `llmkit eval` stage: score, show, write, then apply the quality gates.

Under `accelerate launch` every process scores (model mode shares the batches out and gathers
them), and only the main process shows and writes the results.
"""

from llmkit.config.code_eval import OPT_IN
from llmkit.config.eval import EvalConfig
from llmkit.errors import ConfigError
from llmkit.evaluation.report import (
    SystemResult,
    check_gates,
    check_outputs,
    print_table,
    write_outputs,
)
from llmkit.writable import require_writable_dir, require_writable_file


def run_eval(cfg: EvalConfig, force: bool = False) -> list[SystemResult]:
    """File mode or model mode → one result per system, shown side by side and written out.

    Gates are checked last, so a failing CI run still leaves its scores.json behind. Outputs are
    checked first: an earlier eval's are replaced only with `force`, anything else never.
    """
    if cfg.scores_code and not cfg.allow_code_execution:
        raise ConfigError(OPT_IN)  # before any model is loaded or anything generated
    check_outputs(cfg, force)
    if cfg.output is not None:
        require_writable_file(cfg.output, "output")
    if cfg.output_dir is not None:
        require_writable_dir(cfg.output_dir, "output_dir", swapped_in=True)
    # Imported per mode: model mode loads torch, transformers and accelerate (seconds), which
    # scoring files does not need.
    if cfg.file_mode and cfg.scores_code:
        from llmkit.evaluation.code_eval import evaluate_code_files

        results, main_process = evaluate_code_files(cfg), True
    elif cfg.file_mode:
        from llmkit.evaluation.files import evaluate_files

        results, main_process = evaluate_files(cfg), True
    else:
        from accelerate import PartialState

        from llmkit.evaluation.model import evaluate_model

        results = [evaluate_model(cfg, model_dir) for model_dir in cfg.models]
        processes = PartialState()
        main_process = processes.is_main_process
    if main_process:
        print_table(results, cfg.data if not cfg.file_mode else None)
        write_outputs(results, cfg, force)
    if not cfg.file_mode:
        # As training's end_training does: a process group left to the interpreter's exit can
        # abort a process there ("terminate called without an active exception", seen with 2
        # gloo processes). No-op on one process, and inside `llmkit run`, which keeps its group.
        processes.wait_for_everyone()
        processes.destroy_process_group()
    check_gates(results, cfg.fail_under)
    return results
