"""`--help` generated from the config dataclasses: every key with its type or allowed values, its default
and the comment written beside it in the source, grouped by section. One source of truth: a key added to
a dataclass appears in `--help` without anyone editing a usage string."""
from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

_FIELD = re.compile(r"^\s+(\w+)\s*:")
_COMMENT = re.compile(r"#\s?(.*)$")


def _comments(cls: type) -> dict[str, str]:
    """name -> the comment on its line in the class source (and comment-only lines right below it)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    found, current = {}, None
    for line in lines:
        field = _FIELD.match(line)
        comment = _COMMENT.search(line) if "#" in line else None
        if field and not line.strip().startswith("#"):
            current = field.group(1)
            found[current] = comment.group(1).strip() if comment else ""
        elif current and line.strip().startswith("#") and comment:
            found[current] = (found[current] + " " + comment.group(1).strip()).strip()
        else:
            current = None if line.strip() and not line.strip().startswith("#") else current
    return found


def _kind(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return " | ".join(str(a) for a in get_args(hint))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return " or ".join(_kind(a) for a in args) + " (or null)"
    return getattr(hint, "__name__", str(hint))


def describe(cls: type, prefix: str = "") -> list[str]:
    """Help lines for every leaf key of dataclass `cls` (nested dataclasses become sections)."""
    hints, comments, default = typing.get_type_hints(cls), _comments(cls), cls()
    lines, nested = [], []
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            nested.append((f.name, type(value)))
            continue
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        text = f"  {prefix + f.name}={shown}"
        text = f"{text:44s} {_kind(hints[f.name])}"
        lines.append(text + (f"  # {comments[f.name]}" if comments.get(f.name) else ""))
    for name, sub in nested:
        lines.append(f"{prefix}{name}:")
        lines += describe(sub, f"{prefix}{name}.")
    return lines
