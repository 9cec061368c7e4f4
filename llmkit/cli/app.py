"""The `llmkit` command: a Typer root that registers one thin command per stage.

User errors (llmkit.errors.UserError) become one red line on stderr and exit code 2;
`--debug` anywhere on the command line shows the traceback instead.
"""

import sys

import typer
from typer.core import TyperGroup

from llmkit import __version__
from llmkit.cli import (
    config_cmd,
    eval,
    export,
    generate,
    plot,
    preprocess,
    run,
    tokenizer,
    train,
)
from llmkit.errors import UserError


class _UserErrorsExitCleanly(TyperGroup):
    """Turns a UserError raised anywhere below into one line on stderr and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            if ctx.params.get("debug"):
                raise
            typer.secho(f"error: {e}", fg="red", err=True)
            raise typer.Exit(e.exit_code) from None


app = typer.Typer(
    name="llmkit",
    cls=_UserErrorsExitCleanly,
    help="From raw text to an evaluated, exported language model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback on errors (also accepted after a command)."
    ),
) -> None:
    """llmkit: preprocess → tokenizer → pretrain → finetune → eval → generate → export."""


app.add_typer(tokenizer.app, name="tokenizer")
app.command("preprocess", epilog=preprocess.EXAMPLE)(preprocess.preprocess)
app.command("pretrain", epilog=train.PRETRAIN_EXAMPLE)(train.pretrain)
app.command("finetune", epilog=train.FINETUNE_EXAMPLE)(train.finetune)
app.command("eval", epilog=eval.EXAMPLE)(eval.eval_)
app.command("generate", epilog=generate.EXAMPLE)(generate.generate)
app.command("export", epilog=export.EXAMPLE)(export.export)
app.command("plot", epilog=plot.EXAMPLE)(plot.plot)
app.command("run", epilog=run.EXAMPLE)(run.run)
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    # `--debug` is a root option; accept it after the command too, where users type it.
    args = sys.argv[1:]
    if "--debug" in args:
        args = ["--debug"] + [a for a in args if a != "--debug"]
    app(args=args, prog_name="llmkit")
