"""JSON schemas for tools, read from a function's signature and docstring.

Users write plain Python functions in a notebook; the model needs an OpenAI function
schema. Type hints give the JSON types, defaults make arguments optional and the
docstring gives the descriptions, so one well-written function is a complete tool.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from hermes_nb.errors import ToolError

__all__ = ["function_schema", "parse_docstring", "schema_problem", "type_schema"]

_SIMPLE: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    tuple: "array",
    set: "array",
    frozenset: "array",
}
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$")
_OTHER_SECTION = re.compile(
    r"^\s*(Returns?|Yields?|Raises|Examples?|Notes?|See Also|Warnings?|Attributes|References)\s*:?\s*$"
)
_GOOGLE_ARG = re.compile(r"^\s*\*{0,2}(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_ARG = re.compile(r"^\s*:param\s+(?:[\w\[\], |.]+\s+)?(\w+)\s*:\s*(.*)$")
_SPHINX_ANY = re.compile(r"^\s*:\w+")


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of one Python type hint (unknown types accept any value)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([m.value for m in hint])
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin is typing.Union or origin is types.UnionType:
        return _union_schema(args)
    if origin is typing.Annotated:
        return type_schema(args[0])
    if origin in (list, tuple, set, frozenset) or _is_abc(origin, "Sequence", "Iterable", "Set"):
        items = [a for a in args if a is not Ellipsis]
        schema: dict[str, Any] = {"type": "array"}
        if len(items) == 1 or (origin is tuple and len(set(map(repr, items))) == 1 and items):
            schema["items"] = type_schema(items[0])
        return schema
    if origin is dict or _is_abc(origin, "Mapping"):
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = type_schema(args[1])
        return schema
    return {}


def _is_abc(origin: Any, *names: str) -> bool:
    import collections.abc as cabc

    return any(origin is getattr(cabc, n, None) for n in names)


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and next(iter(kinds)) in _SIMPLE:
        schema = {"type": _SIMPLE[next(iter(kinds))], "enum": values}
    return schema


def _union_schema(args: tuple[Any, ...]) -> dict[str, Any]:
    """``X | None`` becomes X's schema with ``null`` allowed; other unions ``anyOf``."""
    present = [a for a in args if a is not type(None)]
    nullable = len(present) < len(args)
    if len(present) == 1:
        schema = type_schema(present[0])
        if nullable and isinstance(schema.get("type"), str):
            schema = {**schema, "type": [schema["type"], "null"]}
        elif nullable and schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema
    options = [type_schema(a) for a in present]
    if any(not o for o in options):
        return {}
    if nullable:
        options.append({"type": "null"})
    return {"anyOf": options}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring into (description, {argument: description}).

    The description is the first paragraph. Argument descriptions come from a
    Google-style ``Args:`` section or from ``:param name:`` lines.
    """
    text = inspect.cleandoc(doc or "")
    if not text:
        return "", {}
    lines = text.splitlines()
    para: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line) or _SPHINX_ANY.match(line):
            break
        para.append(line.strip())
    args = _google_args(lines)
    args.update(_sphinx_args(lines))
    return " ".join(para), args


def _google_args(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    in_section = False
    current: str | None = None
    arg_indent: int | None = None
    for line in lines:
        if _SECTION.match(line):
            in_section, current, arg_indent = True, None, None
            continue
        if not in_section:
            continue
        if _OTHER_SECTION.match(line) and (arg_indent is None or _indent(line) < arg_indent):
            in_section = False
            continue
        if not line.strip():
            continue
        indent = _indent(line)
        match = _GOOGLE_ARG.match(line)
        if match and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = match.group(1)
            found[current] = match.group(3).strip()
        elif current is not None and arg_indent is not None and indent > arg_indent:
            found[current] = (found[current] + " " + line.strip()).strip()
        else:
            in_section = False
    return found


def _sphinx_args(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        match = _SPHINX_ARG.match(line)
        if match:
            current = match.group(1)
            found[current] = match.group(2).strip()
        elif _SPHINX_ANY.match(line) or not line.strip():
            current = None
        elif current is not None:
            found[current] = (found[current] + " " + line.strip()).strip()
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _json_default(value: Any) -> tuple[bool, Any]:
    """Whether a default can be shown in the schema, and its JSON form."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return True, value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, int, float, bool)) for v in value
    ):
        return True, list(value)
    return False, None


def function_schema(func: Callable[..., Any], name: str) -> tuple[str, dict[str, Any]]:
    """(description, parameters schema) of ``func``; a ToolError explains what cannot work."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ToolError(f"tool {name!r}: cannot read its signature ({exc})") from exc
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to no types
        hints = {}
    description, arg_docs = parse_docstring(inspect.getdoc(func))
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in sig.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolError(
                f"tool {name!r}: {star}{param.name} is not supported; "
                "give every argument its own name so the model knows what to send"
            )
        prop = dict(type_schema(hints.get(param.name, param.annotation)))
        if param.name in arg_docs and arg_docs[param.name]:
            prop["description"] = arg_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        else:
            ok, value = _json_default(param.default)
            if ok:
                prop["default"] = value
        properties[param.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return description or name, schema


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def schema_problem(schema: Any, value: Any, where: str = "arguments") -> str | None:
    """Why ``value`` does not match ``schema``, or None when it does.

    Covers what tool schemas use (types, required and unknown properties, enums,
    array items, anyOf/oneOf); keywords it does not know are accepted, so a value
    is refused only for a reason it can name.
    """
    if not isinstance(schema, dict):
        return None
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            if all(schema_problem(option, value, where) is not None for option in options):
                return f"{where} matches none of the allowed forms"
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']!r}"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_is_type(value, k) for k in kinds):
        return f"{where} must be {' or '.join(kinds)}, not {type(value).__name__}"
    if isinstance(value, dict):
        found = schema.get("properties")
        properties: dict[str, Any] = found if isinstance(found, dict) else {}
        for name in schema.get("required") or []:
            if name not in value:
                return f"{where} lacks the required {name!r}"
        if schema.get("additionalProperties") is False:
            extra = [name for name in value if name not in properties]
            if extra:
                return f"{where} has unknown {', '.join(map(repr, extra))}"
        for name, sub in properties.items():
            if name in value:
                problem = schema_problem(sub, value[name], f"{where}.{name}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problem = schema_problem(schema["items"], item, f"{where}[{index}]")
            if problem:
                return problem
    return None


def _is_type(value: Any, kind: str) -> bool:
    types_ = _JSON_TYPES.get(kind)
    if types_ is None:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, types_)
