"""YAML file + `--set key.path=value` overrides → a validated, frozen config object.

Precedence, lowest first: the schema's defaults, the YAML file, the overrides in the order given.
Every problem is reported before any work starts, one line per problem, naming the key and file.
Relative paths in a config are relative to the directory the command runs in, as in every
tool our users know.
"""

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from llmkit.errors import ConfigError

C = TypeVar("C", bound=BaseModel)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(_utf8_text(path))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    return data


def _utf8_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        guess = ""
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            guess = "; it starts with a UTF-16 byte-order mark"
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start}, "
            f"line {line}{guess})",
            "save the config as UTF-8",
        ) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=3e-4` → (["train", "lr"], 0.0003). Values are typed as YAML would type them."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key.path=value, e.g. --set train.lr=3e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    # YAML 1.1 reads 3e-4 as a string; a number is what the user meant.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            pass
    return [part for part in key.strip().split(".")], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                dotted = ".".join(path[: i + 1])
                raise ConfigError(f"--set {text}: {dotted} is a value, not a section")
            node = child
        node[path[-1]] = value
    return data


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold: X, X | None, Annotated[X | Y, Discriminator]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    origin = getattr(annotation, "__origin__", None)  # Annotated[X, …] keeps X in __origin__
    if origin is not None and not found:
        found += _models_in(origin)
    return found


def _walk_loc(schema: type[BaseModel], loc: tuple) -> tuple[tuple, list[str]]:
    """pydantic's error location → (the key path a user wrote, the keys allowed at its end).

    A discriminated union puts its tag into the location ('task.seq2seq.labels'); the user wrote
    'task.labels', so tags are dropped from the path shown.
    """
    shown: list = []
    models: list[type[BaseModel]] = [schema]
    for part in loc:
        if isinstance(part, int):
            shown.append(part)
            continue
        owner = next((m for m in models if part in m.model_fields), None)
        if owner is None:
            tagged = [m for m in models if _tag_of(m) == part]
            if tagged:  # a union tag, not a key
                models = tagged
                continue
            shown.append(part)
            models = []
            continue
        shown.append(part)
        models = _models_in(owner.model_fields[part].annotation)
    allowed = list(models[0].model_fields) if len(models) == 1 else []
    return tuple(shown), allowed


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    default = field.default if field is not None else None
    return default if isinstance(default, str) else None


def _source_of(key: str, source: str, overridden: list[str]) -> str:
    """Name `--set` rather than the file when the bad key came from an override."""
    if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in overridden):
        return "--set"
    return source


def format_validation_error(
    err: ValidationError, schema: type[BaseModel], source: str, overrides: list[str] = ()
) -> str:
    overridden = [".".join(parse_override(text)[0]) for text in overrides]
    lines = []
    for e in err.errors():
        raw = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc, _ = _walk_loc(schema, raw)
        key = ".".join(str(p) for p in loc) or "(top level)"
        source_of_key = _source_of(key, source, overridden)
        if e["type"] == "extra_forbidden":
            _, allowed = _walk_loc(schema, raw[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            if allowed and not close:
                hint = f"; allowed keys: {', '.join(allowed)}"
            lines.append(f"{source_of_key}: unknown key '{key}'{hint}")
        elif e["type"] == "missing":
            lines.append(f"{source_of_key}: {key}: required key is missing")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source_of_key}: {key}: {msg}{shown}")
    return "\n".join(lines)


def validate(
    schema: type[C], data: dict[str, Any], source: str = "config", overrides: list[str] = ()
) -> C:
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, schema, source, overrides)) from None


def load_config(schema: type[C], path: str | Path | None, overrides: list[str] | None = None) -> C:
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    source = str(path) if path is not None else "--set"
    return validate(schema, data, source, list(overrides or []))


def dump_config(cfg: BaseModel) -> str:
    """The fully resolved config as YAML, with every default filled in."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def save_resolved_config(
    cfg: BaseModel, directory: str | Path, name: str = "llmkit_config.yaml"
) -> Path:
    out = Path(directory) / name
    out.write_text(dump_config(cfg), encoding="utf-8")
    return out
