"""Strict, typed configuration: nested dataclasses filled from defaults <- YAML <- `key=value`.

OmegaConf parses the YAML files and the command-line dot-list and merges them (so `1e-4`, `true`,
`null` and nested keys mean what they mean in YAML). The merged tree is then checked against the
dataclasses here, by hand, because OmegaConf's structured configs cannot check `Literal[...]` choices
and we want one line per mistake that names the key, what is allowed and, for typos, the close match.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


class UserError(Exception):
    """Bad input. The command-line entry points print the message as one line and exit with code 2."""


def parse_overrides(overrides: list[str]) -> dict:
    """`["a.b=1", "c=x"]` -> nested dict with YAML-typed values."""
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise UserError(f"argument {item!r} is not key=value; write it like train.epochs=5")
    try:
        tree = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)), resolve=False)
    except OmegaConfBaseException as exc:
        raise UserError(f"cannot parse overrides {overrides}: {str(exc).splitlines()[0]}") from None
    refuse_interpolation(tree, "the command line")
    return tree


def refuse_interpolation(tree: Any, source: str, prefix: str = "") -> None:
    """Values are taken literally: `${oc.env:PGPASSWORD}` or `${other.key}` is an input error.

    A contributed study file could otherwise copy an environment secret into a value the platform logs as
    an MLflow param and writes to config.yaml. Secrets reach the platform only through the environment
    variables the tools read themselves (MLFLOW_TRACKING_PASSWORD, PGPASSWORD, RAY_AUTH_TOKEN)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            refuse_interpolation(value, source, f"{prefix}{key}.")
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            refuse_interpolation(value, source, f"{prefix}{index}.")
    elif isinstance(tree, str) and "${" in tree:
        raise UserError(f"{prefix.rstrip('.')} in {source} uses interpolation ({tree[:60]!r}); values are taken "
                        "literally: write the value itself, and pass secrets through MLFLOW_TRACKING_PASSWORD or "
                        "PGPASSWORD in the environment")


MAX_YAML_BYTES = 1_000_000


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases: nested aliases (a "billion laughs" file) expand
    exponentially, and no config of ours needs them."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.MarkedYAMLError(problem=f"YAML anchors and aliases (&{event.anchor} / *{event.anchor}) are "
                                       "not allowed in config and study files", problem_mark=event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping (at most 1 MB, no anchors or aliases); a syntax error names the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist; pass an existing YAML file")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise UserError(f"{path} is {path.stat().st_size:,} bytes, over the {MAX_YAML_BYTES:,} a config or study "
                        "file may have; check that it is the right file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        if context is not None and mark is not None and context.line != mark.line:
            where += f" ({getattr(exc, 'context', None) or 'started'} on line {context.line + 1})"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"YAML syntax error in {path}{where}: {problem}; fix that line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a YAML mapping of keys, not {type(data).__name__}")
    refuse_interpolation(data, str(path))
    return data


def merge(*trees: dict) -> dict:
    """Deep-merge plain dicts left to right (later wins), using OmegaConf's merge rules."""
    try:
        merged = OmegaConf.merge(*[OmegaConf.create(t) for t in trees])
    except OmegaConfBaseException as exc:
        raise UserError(f"cannot merge configuration: {str(exc).splitlines()[0]}") from None
    return OmegaConf.to_container(merged, resolve=False)  # nothing to resolve: interpolation is refused


def build(cls: type, tree: dict, prefix: str = ""):
    """Instantiate dataclass `cls` from `tree`, rejecting unknown keys, wrong types and bad choices."""
    if not isinstance(tree, dict):
        raise UserError(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys, got {tree!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in tree:
        if key not in fields:
            raise UserError(unknown_key_message(prefix + str(key), [prefix + name for name in fields]))
    values = {}
    for name, value in tree.items():
        values[name] = _coerce(hints[name], value, prefix + name)
    return cls(**values)


def unknown_key_message(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "known keys: " + ", ".join(sorted(known))
    return f"unknown config key {key!r}; {hint}"


def _coerce(hint: Any, value: Any, key: str):
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".")
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise UserError(f"{key}={value!r} is not allowed; choose one of {', '.join(map(str, choices))}")
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{key}={value!r} must be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"{key}={value!r} must be an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"{key}={value!r} must be a number")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"{key}={value!r} must be a string")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key}={value!r} must be a list")
        (item_hint, *_) = get_args(hint) or (Any,)
        return [_coerce(item_hint, v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: the dotted names used on the command line, in MLflow and in studies."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(flat: dict) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}}: the inverse of `flatten`."""
    nested: dict = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def check_writable_dir(path: Path, key: str) -> None:
    """Prove now, not hours later when the first checkpoint is due, that `path` can take files — without
    creating anything: a command refused later for another reason leaves the file tree as it was."""
    path = Path(path).expanduser().absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    try:
        if existing is None or not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        if existing == path:
            probe = path / f".write-test-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
        elif not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UserError(f"{key}={path} is not writable ({exc.strerror}); choose another {key}") from None


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)
