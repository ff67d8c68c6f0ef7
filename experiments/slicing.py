"""The slice options of every grid experiment: --patterns, --sparsities and --where FIELD=V1,V2 keep only the
rows they name (the dense row is always kept by the caller), and are checked before any work."""
from __future__ import annotations

import argparse
from dataclasses import fields, replace

from methods import PruneConfig


def check_slice(args: argparse.Namespace) -> None:
    """ValueError for a --patterns entry that is no pattern or a --sparsities entry outside [0, 1)."""
    from methods.masks import Pattern, check_sparsity

    for pattern in (args.patterns or "").split(","):
        if pattern:
            Pattern.parse(pattern)
    for value in (args.sparsities or "").split(","):
        if value:
            try:
                check_sparsity(float(value))
            except ValueError as err:
                raise ValueError(f"--sparsities {value!r}: {err}") from None


def parse_where(items: list[str]) -> dict[str, set[str]]:
    """--where FIELD=V1,V2 options as {field: {values}}; ValueError for a malformed item or a field PruneConfig
    does not have (so a typo fails before any work instead of selecting nothing)."""
    known = {f.name for f in fields(PruneConfig)}
    where: dict[str, set[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise ValueError(f"--where {item!r} is not FIELD=V1[,V2]")
        if name not in known:
            raise ValueError(f"--where {item!r}: PruneConfig has no field {name!r} (fields: {', '.join(sorted(known))})")
        where.setdefault(name, set()).update(v.strip() for v in values.split(","))
    return where


def _field_text(value) -> str:
    return "none" if value is None else str(value)


def in_slice(config: PruneConfig, args: argparse.Namespace) -> bool:
    """Whether a row lies in the --patterns / --sparsities / --where slice of the grid (no option: every row)."""
    for name, values in (getattr(args, "where_fields", None) or {}).items():
        if _field_text(getattr(config, name)) not in values:
            return False
    patterns, sparsities = getattr(args, "patterns", None), getattr(args, "sparsities", None)
    if patterns and config.pattern not in patterns.split(","):
        return False
    if sparsities:
        target = replace(config).validate().sparsity  # an N:M row's sparsity is N/M
        return any(abs(target - float(s)) < 1e-9 for s in sparsities.split(",") if s)
    return True
