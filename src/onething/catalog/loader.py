"""Load a catalog folder of YAML files into typed models, keeping every node's line and column.

Loading never stops at the first problem: each file, and each item in it, is validated on its own, and every
problem is collected with its address. Cross-references are checked afterwards by ``validate``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from onething.catalog.errors import Problem
from onething.catalog.gcpause import collector_paused
from onething.catalog.model import (
    CalendarOverrides,
    Catalog,
    Department,
    FieldDef,
    KeyItemList,
    Material,
    Procedure,
    Region,
    Resource,
    Thing,
)

Path_ = tuple[str | int, ...]

try:
    from yaml import cyaml as _libyaml
except ImportError:  # PyYAML built without libyaml: ruamel reads every file
    _libyaml = None

ITEM_KINDS: dict[str, type[BaseModel]] = {
    "departments": Department,
    "fields": FieldDef,
    "materials": Material,
    "resources": Resource,
    "procedures": Procedure,
}
DOCUMENT_KINDS: dict[str, type[BaseModel]] = {
    "thing": Thing,
    "list": KeyItemList,
    "calendar": CalendarOverrides,
    "region": Region,
}
# Where each kind may live, relative to the catalog root.
KIND_LOCATIONS = {
    "departments": ("departments.yaml", "departments"),
    "fields": ("fields.yaml", "fields"),
    "materials": ("materials.yaml", "materials"),
    "resources": ("resources.yaml", "resources"),
    "procedures": ("procedures.yaml", "procedures"),
    "thing": ("", "things"),
    "list": ("", "lists"),
    "calendar": ("calendar.yaml", ""),
    "region": ("", "regions"),
}


@dataclass
class Origin:
    """Where one catalog item was declared: its file and the positions of its nodes."""

    file: str
    positions: Mapping[Path_, tuple[int, int]]
    base: Path_

    def at(self, *sub: str | int) -> tuple[str, int, int]:
        path = self.base + tuple(sub)
        while path:
            found = self.positions.get(path)
            if found is not None:
                return self.file, found[0], found[1]
            path = path[:-1]
        return self.file, 1, 1


@dataclass
class LoadResult:
    catalog: Catalog
    problems: list[Problem]
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    root: Path = Path()

    def origin(self, kind: str, item_id: str) -> Origin:
        return self.origins.get((kind, item_id), Origin(file=str(self.root), positions={}, base=()))

    def problem(self, kind: str, item_id: str, *sub: str | int, message: str, info: bool = False) -> Problem:
        file, line, col = self.origin(kind, item_id).at(*sub)
        return Problem(file, line, col, message, "info" if info else "error")


def _plain(node: Any, path: Path_, positions: dict[Path_, tuple[int, int]]) -> Any:
    """Turn ruamel's round-trip nodes into plain data, recording (line, col) — 1-based — per path."""
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            try:
                line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions[(*path, str(key))] = (line + 1, col + 1)
            out[str(key)] = _plain(node[key], (*path, str(key)), positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            try:
                line, col = node.lc.item(index)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            positions[(*path, index)] = (line + 1, col + 1)
            items.append(_plain(item, (*path, index), positions))
        return items
    if isinstance(node, str):
        return str(node)
    return node


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_OCTAL_12 = re.compile(r"^[-+]?0o[0-7]+$")
_NUMERIC_START = frozenset("-+.0123456789")
# Plain scalars with a meaning of their own besides text (YAML 1.2 core schema, as ruamel reads it).
_SPECIAL: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None,
                            "true": True, "True": True, "TRUE": True, "false": False, "False": False,
                            "FALSE": False}
_LEFT_TO_RUAMEL = frozenset({"<<", "="})  # merge key, value key
# Tag of every node libyaml reads without an explicit tag (the loader resolves plain scalars itself).
_IMPLICIT = "tag:onething,2026:implicit"


class _Fallback(Exception):
    """The fast parser met something it does not decide itself; the round-trip parser reads the file."""


def _ambiguous_number(value: str) -> bool:
    """Looks like a number, date or timestamp in some YAML reading (hex, octal, ``1_000``, ``.inf``, a time
    of day …) without being one of the plain forms read here: ruamel decides."""
    if _OCTAL_12.match(value):
        return True
    return any(tag != "tag:yaml.org,2002:str" and regexp.match(value)
               for tag, regexp in yaml.SafeLoader.yaml_implicit_resolvers.get(value[0], ()))


def _scalar(node: yaml.ScalarNode, text: str) -> Any:
    """A scalar under the YAML 1.2 core schema (as ruamel reads it); quoted and block scalars are text."""
    if node.tag != _IMPLICIT:
        raise _Fallback  # an explicit tag
    value: str = node.value
    if node.style:  # quoted, literal or folded (libyaml marks plain scalars "", PyYAML None)
        return value
    if value[:1] in _NUMERIC_START and value:
        typed = _number(value)
    elif value in _SPECIAL:
        typed = _SPECIAL[value]
    elif value in _LEFT_TO_RUAMEL:
        raise _Fallback
    else:
        return value
    if text[node.start_mark.index:node.start_mark.index + 1] == "!":
        # The non-specific tag (``! 2024``), which makes a scalar text: libyaml reports it as untagged.
        raise _Fallback
    return typed


def _number(value: str) -> Any:
    """A plain scalar that starts like a number: int, float, date, or text."""
    if _INT.match(value):
        digits = value.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0":
            raise _Fallback  # leading zeros: leave the reading to ruamel
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    if _DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise _Fallback from None
    if _ambiguous_number(value):
        raise _Fallback
    return value


def _key(node: yaml.Node, text: str) -> str:
    if type(node) is not yaml.ScalarNode:
        raise _Fallback  # a complex key
    return str(_scalar(node, text))


# A path in a file's position table: each key after _KEY, each item index after _ITEM ("", then
# "\x1fprocedures\x1e3\x1fid" for ("procedures", 3, "id")). Strings and ints only, so the table is one dict
# that the cyclic garbage collector never tracks (a table of tuples, or the composed nodes, would be walked
# again at every full collection).
_KEY = "\x1f"
_ITEM = "\x1e"
_PART = re.compile("([\x1e\x1f])([^\x1e\x1f]*)")


def _encode(path: Path_) -> str:
    return "".join(f"{_ITEM}{part}" if isinstance(part, int) else f"{_KEY}{part}" for part in path)


def _data(node: yaml.Node, prefix: str, table: dict[str, int], text: str) -> Any:
    """Plain data of a composed node; each key's and item's position goes into ``table`` (line << 32 | col,
    0-based) under its encoded path."""
    kind = type(node)
    if kind is yaml.ScalarNode:
        return _scalar(node, text)
    if node.tag != _IMPLICIT:
        raise _Fallback
    if kind is yaml.MappingNode:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _key(key_node, text)
            if key in out or _KEY in key or _ITEM in key:
                raise _Fallback  # a duplicate key (ruamel reports it with its position), or a control character
            sub = prefix + _KEY + key
            mark = key_node.start_mark
            table[sub] = mark.line << 32 | mark.column
            out[key] = (_scalar(value_node, text) if type(value_node) is yaml.ScalarNode
                        else _data(value_node, sub, table, text))
        return out
    if kind is yaml.SequenceNode:
        items = []
        for index, item in enumerate(node.value):
            sub = f"{prefix}{_ITEM}{index}"
            mark = item.start_mark
            table[sub] = mark.line << 32 | mark.column
            items.append(_scalar(item, text) if type(item) is yaml.ScalarNode else _data(item, sub, table, text))
        return items
    raise _Fallback


class FilePositions(Mapping[Path_, tuple[int, int]]):
    """The (line, col) — 1-based — of each key and item of a file read by libyaml. Equal, as a mapping, to
    the table ruamel's reading gives (a dict keyed by path tuples)."""

    __slots__ = ("_table",)

    def __init__(self, table: dict[str, int]) -> None:
        self._table = table

    def __getitem__(self, path: Path_) -> tuple[int, int]:
        found: tuple[int, int] | None = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def get(self, path: Path_, default: Any = None) -> Any:  # one lookup (``Mapping.get`` would make two)
        packed = self._table.get(_encode(path)) if path else None
        if packed is None:
            return default
        return (packed >> 32) + 1, (packed & 0xFFFFFFFF) + 1

    def __iter__(self) -> Iterator[Path_]:
        for encoded in self._table:
            yield tuple(int(part) if sep == _ITEM else part for sep, part in _PART.findall(encoded))

    def __len__(self) -> int:
        return len(self._table)


if _libyaml is not None:
    class _Composer(_libyaml.CParser):  # type: ignore[misc]
        """libyaml's parser and composer (C) without PyYAML's YAML 1.1 tag resolution, a Python call per node
        whose answers the loader would not use: every untagged node gets the tag ``_IMPLICIT``, an explicitly
        tagged one keeps its tag (and goes to ruamel)."""

        def resolve(self, kind: type[yaml.Node], value: str | None, implicit: Any) -> str:
            if kind is yaml.ScalarNode:
                return _IMPLICIT if implicit[0] or implicit[1] else "!"
            return _IMPLICIT if implicit else "!"

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None

        def ascend_resolver(self) -> None:
            return None


def _fast_parse(text: str) -> tuple[Any, Mapping[Path_, tuple[int, int]]] | None:
    """Plain data and positions through libyaml (C) — an order of magnitude faster than ruamel's round-trip
    parser, which the loader keeps for anything unusual (syntax errors, duplicate keys, tags, numbers read
    differently under YAML 1.1 and 1.2) and for its messages."""
    if _libyaml is None:
        return None
    loader = _Composer(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        table: dict[str, int] = {}
        return _data(node, "", table, text), FilePositions(table)
    except (yaml.YAMLError, _Fallback):
        return None
    finally:
        loader.dispose()


def _parse_roundtrip(parser: YAML, text: str, file: str, problems: list[Problem]
                     ) -> tuple[Any, Mapping[Path_, tuple[int, int]]] | None:
    """ruamel's round-trip reading: exact YAML errors with their marks. None for an error or an empty file."""
    try:
        document = parser.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(file, line, col, f"YAML syntax: {exc.problem or exc.context}"))
        return None
    if document is None:
        return None
    positions: dict[Path_, tuple[int, int]] = {}
    return _plain(document, (), positions), positions


def _catalog_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.suffix in {".yaml", ".yml"} and path.is_file():
            yield path


class _Display:
    """How a file under ``root`` is named in problems: relative to the working folder when it lies under it,
    else as found. The root and the working folder are resolved once (the folders under the root are real:
    ``rglob`` does not enter linked folders; a linked file is resolved itself)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.cwd = Path.cwd().resolve()

    def __call__(self, path: Path) -> str:
        full = path.resolve() if path.is_symlink() else self.real_root / path.relative_to(self.root)
        try:
            return str(full.relative_to(self.cwd))
        except ValueError:
            return str(path)


def _pydantic_problems(
    exc: ValidationError, file: str, positions: Mapping[Path_, tuple[int, int]], base: Path_
) -> list[Problem]:
    origin = Origin(file, positions, base)
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # Pydantic reports union branches and model validators with extra loc parts; keep the data path.
        data_loc = tuple(part for part in loc if isinstance(part, int) or not str(part).startswith("function-"))
        _, line, col = origin.at(*data_loc)
        where = ".".join(str(part) for part in data_loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(Problem(file, line, col, f"{where}: {message}" if where else message))
    return problems


def load_catalog(root: Path) -> LoadResult:
    """Read every YAML file under ``root``; return the catalog built from the valid items and all problems."""
    with collector_paused():
        return _load_catalog(root)


def _load_catalog(root: Path) -> LoadResult:
    yaml_rt = YAML(typ="rt")
    problems: list[Problem] = []
    origins: dict[tuple[str, str], Origin] = {}
    collected: dict[str, dict[str, Any]] = {kind: {} for kind in ("departments", "fields", "materials",
                                                               "resources", "procedures", "things", "lists",
                                                               "regions")}
    calendar = CalendarOverrides()
    if not root.is_dir():
        problems.append(Problem(str(root), 1, 1, "catalog folder does not exist"))
        return LoadResult(Catalog(), problems, origins, root)

    display = _Display(root)
    for path in _catalog_files(root):
        file = display(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(file, 1, 1, "file is not UTF-8 text"))
            continue
        fast = _fast_parse(text)
        if fast is not None:
            data, positions = fast
            if data is None:
                continue
        else:
            parsed = _parse_roundtrip(yaml_rt, text, file, problems)
            if parsed is None:
                continue
            data, positions = parsed
        if not isinstance(data, dict) or len(data) != 1:
            problems.append(Problem(file, 1, 1, "a catalog file is a mapping with exactly one top-level key "
                                    f"(one of {', '.join([*ITEM_KINDS, *DOCUMENT_KINDS])})"))
            continue
        (kind, body), = data.items()
        rel = path.relative_to(root)
        if kind not in ITEM_KINDS and kind not in DOCUMENT_KINDS:
            line, col = positions.get((kind,), (1, 1))
            problems.append(Problem(file, line, col, f"unknown top-level key {kind!r}"))
            continue
        single, folder = KIND_LOCATIONS[kind]
        expected_place = str(rel) == single or (folder and rel.parts[0] == folder)
        if not expected_place:
            line, col = positions.get((kind,), (1, 1))
            problems.append(Problem(file, line, col, f"`{kind}` belongs in {single or folder + '/'}"
                                    f"{' or ' + folder + '/' if single and folder else ''}"))
            continue

        if kind in ITEM_KINDS:
            if not isinstance(body, list):
                line, col = positions.get((kind,), (1, 1))
                problems.append(Problem(file, line, col, f"`{kind}` is a list of items"))
                continue
            model = ITEM_KINDS[kind]
            for index, raw in enumerate(body):
                base: Path_ = (kind, index)
                try:
                    item = model.model_validate(raw)
                except ValidationError as exc:
                    problems.extend(_pydantic_problems(exc, file, positions, base))
                    continue
                item_id = item.id  # type: ignore[attr-defined]
                origin = Origin(file, positions, base)
                if item_id in collected[kind]:
                    first = origins[(kind, item_id)].at()
                    _, line, col = origin.at("id")
                    problems.append(Problem(file, line, col, f"duplicate {kind[:-1]} id {item_id!r} "
                                            f"(first declared at {first[0]}:{first[1]})"))
                    continue
                collected[kind][item_id] = item
                origins[(kind, item_id)] = origin
        else:
            base = (kind,)
            try:
                doc = DOCUMENT_KINDS[kind].model_validate(body)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(exc, file, positions, base))
                continue
            origin = Origin(file, positions, base)
            if isinstance(doc, CalendarOverrides):
                calendar = doc
                continue
            if isinstance(doc, Region):
                if rel.parts != ("regions", doc.code, "region.yaml"):
                    _, line, col = origin.at("code")
                    problems.append(Problem(file, line, col, f"region {doc.code!r} belongs in "
                                            f"regions/{doc.code}/region.yaml"))
                    continue
                collected["regions"][doc.code] = doc
                origins[("regions", doc.code)] = origin
                continue
            key, bucket = (doc.code, "things") if isinstance(doc, Thing) else (doc.id, "lists")  # type: ignore[attr-defined]
            if key != path.stem:
                _, line, col = origin.at("code" if bucket == "things" else "id")
                problems.append(Problem(file, line, col, f"{'code' if bucket == 'things' else 'id'} {key!r} "
                                        f"does not match the file name {path.name!r}"))
            if key in collected[bucket]:
                first = origins[(bucket, key)].at()
                problems.append(Problem(file, 1, 1, f"duplicate {bucket[:-1]} {key!r} (first in {first[0]})"))
                continue
            collected[bucket][key] = doc
            origins[(bucket, key)] = origin

    catalog = Catalog(calendar=calendar, **collected)
    return LoadResult(catalog, problems, origins, root)
