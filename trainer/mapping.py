"""Matching a file's columns (and label values) to a bounty's schema.

    proposal = propose_mapping(table.columns, spec, chosen={"alcohol": "Alc."}, sample=rows)
    proposal.unresolved     # spec columns with no column or several equally good ones
    proposal.as_dict()      # {spec column: file column} for the features and the label

Each spec column (the features, then the label) is matched, in this order, by:
1. the owner's choice (`chosen`, from --map SPEC=FILE or the GUI's dropdowns), then what
   the owner confirmed for this file before (`remembered`, wallet.column_maps),
2. the same name,
3. the same name after normalising both (`normalise`: case, spaces, punctuation, units in
   brackets: `OD280/OD315 of diluted wines (ratio)` == `od280_od315_of_diluted_wines`),
4. one of the spec's declared aliases (`schema.columns[i].aliases`, `schema.label_aliases`),
   normalised the same way,
5. label only: a usual label name (`target`, `class`, `y`, `outcome`, ...) whose sampled
   values all fit the spec's classes,
6. an .npz's "X"/"y" arrays, by position (the file format says X is in the spec's order).
A step that finds two candidate columns leaves the spec column unresolved and lists them.
Columns the spec does not use are `extras`: listed to the owner, never an error.

Label values: `LabelResolver` maps a cell to a class index: numbers to int classes, strings
to string classes exactly and then case-insensitively, and then the owner's own table
(`label_values`, {file value: class}) for anything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer.errors import DataError
from trainer.spec import BountySpec

LABEL_NAMES = ("label", "labels", "target", "class", "classes", "y", "outcome", "category",
               "diagnosis", "species", "response")
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a", "missing"})
_UNITS = re.compile(r"\s*[\(\[\{][^\)\]\}]*[\)\]\}]\s*")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(name: str) -> str:
    """A column name for comparison: lower case, units in brackets dropped, every run of
    spaces and punctuation one underscore, none at the ends."""
    text = _UNITS.sub(" ", name.casefold())
    return _NON_WORD.sub("_", text).strip("_") or name.casefold().strip()


@dataclass(frozen=True)
class ColumnMatch:
    spec_column: str
    file_column: str | None
    how: str  # "chosen" | "remembered" | "exact" | "normalised" | "alias" | "label name" |
    # "position" | "" (not matched)
    candidates: tuple[str, ...] = ()  # the equally good columns when ambiguous

    @property
    def resolved(self) -> bool:
        return self.file_column is not None


@dataclass(frozen=True)
class Proposal:
    features: tuple[ColumnMatch, ...]
    label: ColumnMatch
    extras: tuple[str, ...]
    file_columns: tuple[str, ...] = field(default=())

    @property
    def matches(self) -> tuple[ColumnMatch, ...]:
        return (*self.features, self.label)

    @property
    def unresolved(self) -> list[ColumnMatch]:
        return [m for m in self.matches if not m.resolved]

    def as_dict(self) -> dict[str, str]:
        return {m.spec_column: m.file_column for m in self.matches if m.file_column is not None}

    def problems(self, name: str) -> list[str]:
        """A line per spec column with several candidates, and one for those with none."""
        out = []
        missing = []
        for m in self.unresolved:
            what = "label column" if m is self.label else "column"
            if m.candidates:
                out.append(f"{name}: {what} '{m.spec_column}' could be any of "
                           f"{', '.join(repr(c) for c in m.candidates)}; choose one.")
            else:
                missing.append(m)
        if len(missing) == 1:
            m = missing[0]
            what = "label column" if m is self.label else "column"
            out.append(f"{name}: no {what} for '{m.spec_column}'; choose one of the file's "
                       f"columns ({_short(self.file_columns)}).")
        elif missing:
            names = [f"'{m.spec_column}'" for m in missing]
            out.append(f"{name}: no column for {_short(names, 8)} ({len(missing)} of the bounty's "
                       f"{len(self.matches)} columns); the file has {_short(self.file_columns)}. "
                       "Is it the right file? Choose its columns if their names differ.")
        return out

    def lines(self) -> list[str]:
        """The mapping for people: `spec column <- file column (how)`."""
        out = []
        for m in self.matches:
            target = repr(m.file_column) if m.file_column else "(not found)"
            how = f" ({m.how})" if m.how and m.how != "exact" else ""
            tag = " [label]" if m is self.label else ""
            out.append(f"{m.spec_column}{tag} <- {target}{how}")
        if self.extras:
            out.append(f"not used: {_short(list(self.extras))}")
        return out


def _short(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def propose_mapping(
    file_columns: Sequence[str],
    spec: BountySpec,
    *,
    chosen: Mapping[str, str] | None = None,
    remembered: Mapping[str, str] | None = None,
    sample: Mapping[str, Sequence[Any]] | None = None,
    label_values: Mapping[str, Any] | None = None,
) -> Proposal:
    """The proposed mapping of `file_columns` to the spec's columns (see the module doc).

    `sample` holds a few of each column's cells (the first rows), used to see whether a
    usual label name holds the spec's classes. DataError when `chosen` names a spec or file
    column that does not exist, or one file column twice."""
    schema = spec.schema
    columns = list(file_columns)
    spec_names = [*schema.feature_names, schema.label]
    aliases: dict[str, tuple[str, ...]] = {c.name: c.aliases for c in schema.columns}
    aliases[schema.label] = schema.label_aliases
    found: dict[str, ColumnMatch] = {}
    used: set[str] = set()
    for spec_col, file_col in (chosen or {}).items():
        if spec_col not in spec_names:
            raise DataError(f"'{spec_col}' is not a column of this bounty's schema "
                            f"({_short(spec_names)}).")
        if file_col not in columns:
            raise DataError(f"'{file_col}' (chosen for '{spec_col}') is not a column of the file "
                            f"({_short(columns)}).")
        if file_col in used:
            raise DataError(f"The file's column '{file_col}' is chosen for two of the "
                            "bounty's columns.")
        found[spec_col] = ColumnMatch(spec_col, file_col, "chosen")
        used.add(file_col)

    for spec_col, file_col in (remembered or {}).items():
        # the mapping the owner confirmed for this file before; an entry the file (or the
        # owner's choice now) no longer fits is dropped without a word
        if spec_col in spec_names and spec_col not in found and file_col in columns \
                and file_col not in used:
            found[spec_col] = ColumnMatch(spec_col, file_col, "remembered")
            used.add(file_col)

    def free() -> list[str]:
        return [c for c in columns if c not in used]

    def settle(how: str, key: Any) -> None:
        """Match every open spec column whose key meets exactly one free file column."""
        claims: dict[str, list[str]] = {}
        for spec_col in spec_names:
            if spec_col in found:
                continue
            wanted = key(spec_col)
            hits = [c for c in free() if wanted(c)]
            if hits:
                claims[spec_col] = hits
        taken: dict[str, int] = {}
        for hits in claims.values():
            for h in hits:
                taken[h] = taken.get(h, 0) + 1
        for spec_col, hits in claims.items():
            if len(hits) == 1 and taken[hits[0]] == 1:
                found[spec_col] = ColumnMatch(spec_col, hits[0], how)
            elif spec_col not in ambiguous:
                ambiguous[spec_col] = tuple(hits)
        used.update(m.file_column for m in found.values() if m.file_column)

    ambiguous: dict[str, tuple[str, ...]] = {}
    settle("exact", lambda s: lambda c: c == s)
    settle("normalised", lambda s: lambda c: normalise(c) == normalise(s))
    settle("alias", lambda s: lambda c: normalise(c) in {normalise(a) for a in aliases[s]})
    if schema.label not in found:
        resolver = LabelResolver(spec, label_values)
        fits = [c for c in free() if normalise(c) in LABEL_NAMES
                and sample is not None and c in sample and resolver.fits(sample[c])]
        if len(fits) == 1:
            found[schema.label] = ColumnMatch(schema.label, fits[0], "label name")
            used.add(fits[0])
        elif fits:
            ambiguous.setdefault(schema.label, tuple(fits))
    positional = [f"X[{i}]" for i in range(len(schema.columns))]
    if all(c in columns for c in positional) and "y" in columns:
        for spec_col, file_col in zip([*schema.feature_names, schema.label],
                                      [*positional, "y"], strict=True):
            if spec_col not in found and file_col not in used:
                found[spec_col] = ColumnMatch(spec_col, file_col, "position")
                used.add(file_col)
    matches = [found.get(s) or ColumnMatch(s, None, "", ambiguous.get(s, ())) for s in spec_names]
    return Proposal(tuple(matches[:-1]), matches[-1], tuple(free()), tuple(columns))


# ---------------------------------------------------------------------------------------------
# Label values


def cell_text(cell: Any) -> str:
    """A cell as the text a person would read (1.0 -> "1": a spreadsheet stores 1 as 1.0)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and math.isfinite(cell) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, bytes):
        return cell.decode("utf-8", "replace").strip()
    return str(cell).strip()


MISSING = -1
UNKNOWN = -2


class LabelResolver:
    """Label cell text -> class index, MISSING (an empty/NA cell) or UNKNOWN."""

    def __init__(self, spec: BountySpec, label_values: Mapping[str, Any] | None = None) -> None:
        classes = spec.schema.classes
        self.classes = classes
        self.int_classes = isinstance(classes[0], int)
        self._exact = {str(c): i for i, c in enumerate(classes)}
        self._folded: dict[str, int] = {}
        if not self.int_classes:
            for i, c in enumerate(classes):
                self._folded.setdefault(str(c).casefold(), i)
        self._owner: dict[str, int] = {}
        for value, target in (label_values or {}).items():
            index = self.class_index(target)
            if index is None:
                raise DataError(f"'{target}' (chosen for the label value '{value}') is not one of "
                                f"the classes {list(classes)}.")
            self._owner[str(value).strip()] = index

    def class_index(self, target: Any) -> int | None:
        """The index of a class named by the owner (as text or value), or None."""
        text = cell_text(target)
        if text in self._exact:
            return self._exact[text]
        return self._folded.get(text.casefold())

    def resolve(self, text: str) -> int:
        if text.casefold() in MISSING_TOKENS:
            return MISSING
        if text in self._owner:
            return self._owner[text]
        if self.int_classes:
            try:
                number = float(text)
            except ValueError:
                return UNKNOWN
            if math.isfinite(number) and number.is_integer():
                return self._exact.get(str(int(number)), UNKNOWN)
            return UNKNOWN
        if text in self._exact:
            return self._exact[text]
        return self._folded.get(text.casefold(), UNKNOWN)

    def fits(self, cells: Sequence[Any]) -> bool:
        """Every non-empty cell is a class, and there is at least one."""
        codes = [self.resolve(cell_text(c)) for c in cells]
        known = [c for c in codes if c != MISSING]
        return bool(known) and UNKNOWN not in known
