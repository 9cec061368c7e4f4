"""The export's output directory, under the rules every llmkit command follows (llmkit.outputs):
a new or empty directory, or an earlier `llmkit export` output replaced with --force; written to
a hidden sibling and swapped in only when complete, so a failed export leaves nothing behind."""

from pathlib import Path

from llmkit.errors import ConfigError
from llmkit.outputs import check_output_dir, staged_output_dir
from llmkit.writable import require_writable_dir

STAGE = "export"


def check_export_output(output_dir: str, force: bool, source: Path) -> Path:
    """Refuse, before any work, an output that would mix with, overwrite or sit inside
    something else, or that cannot be written."""
    out = Path(output_dir)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise ConfigError(f"output_dir: {out} is inside the source {source}; choose another place")
    check_output_dir(out, STAGE, force)
    require_writable_dir(out, "output_dir", swapped_in=True)
    return out


def staged_export(out: Path, force: bool):
    return staged_output_dir(out, STAGE, force)
