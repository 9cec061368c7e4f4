"""`llmkit run --dry-run`: each stage that would run is checked by its own command's checks,
where its inputs exist already: a training stage by its --dry-run (one optimizer step, nothing
written), an export by reading its source model, a generate stage by reading its prompts and
model and fitting each prompt plus its new tokens into the model's context; every stage's
output by a writability check. A stage whose input an earlier stage has yet to write is checked
only as far as that allows."""

from rich.console import Console

from llmkit.errors import UserError
from llmkit.pipeline.plan import TRAINING, StagePlan
from llmkit.writable import require_writable_dir


def preflight(plans: list[StagePlan], console: Console) -> None:
    """Check every stage that would run; raise the first problem (exit 2), naming its stage."""
    running = {p.stage.name for p in plans if p.runs}
    for plan in plans:
        if not plan.runs:
            continue
        name = plan.stage.name
        console.rule(f"preflight: {name}")
        output_dir = getattr(plan.stage.config, "output_dir", None)
        if output_dir is not None:
            require_writable_dir(output_dir, f"stages.{name}.output_dir", swapped_in=True)
        waiting = [n for n in plan.uses if n in running]
        if waiting:
            console.print(
                f"{name}: output writable; its inputs come from {', '.join(waiting)}, which "
                f"{'run' if len(waiting) > 1 else 'runs'} first: checked when the pipeline runs"
            )
            continue
        try:
            _check(plan)
        except UserError as e:
            e.message = f"stages.{name}: {e.message}"
            raise
        console.print(f"[green]{name}: preflight ok[/]")


def _check(plan: StagePlan) -> None:
    cfg, kind = plan.stage.config, plan.stage.kind
    if kind in TRAINING:
        from llmkit.train.stage import run_training

        run_training(cfg, dry_run=True)
    elif kind == "export":
        from llmkit.export.source import resolve_source

        resolve_source(cfg.source)
    elif kind == "generate":
        _check_generate(cfg)


def _check_generate(cfg) -> None:
    """What `llmkit generate` would refuse after loading: a model that cannot generate, a prompt
    too long for the model's context (the plan has refused a prompt file without prompts)."""
    from llmkit.generation import load_generator, prompt_batches, read_prompts

    prompts = read_prompts(cfg)
    model, tokenizer = load_generator(cfg.model, cfg.device)
    prompt_batches(model, tokenizer, prompts, cfg.generation, cfg.batch_size)
