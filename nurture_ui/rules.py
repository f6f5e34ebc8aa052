"""The JSON rule language of entry rules and step conditions (DESIGN.md §4), and the exit-rule switches.

A rule is a tree of plain JSON:

- ``{}`` or ``{"all": []}`` — always true;
- ``{"all": [rule, …]}``, ``{"any": [rule, …]}``, ``{"not": rule}``;
- a condition on a lead field: ``{"field": "score", "op": "gte", "value": 60}``;
- the reply condition: ``{"no_open_reply_within_days": 14}`` — no open reply thread received in the
  last 14 days.

The same rule is validated on save (``validate``), compiled to a SQL filter over leads
(``compile_filter``, for auto-enrollment over many leads) and evaluated in Python against one lead
(``evaluate``, for the engine's re-check). A property test holds the last two equal, so their
semantics are pinned down here once:

- every leaf is two-valued: a missing time zone or owner never makes a comparison NULL; it is simply
  different from every value (``ne`` and ``not_in`` match it);
- text ``contains`` ignores the case of ASCII letters only — the one folding SQLite, PostgreSQL and
  Python share exactly;
- ``created_age_days`` is whole days since the lead was created: ``gte 7`` means created at least
  seven days before ``now``.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from nurture_ui.models import DEFAULT_EXIT_RULES, LEAD_STATUSES, Lead, LeadReply

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_LIST_VALUES = 50
MAX_TEXT_LENGTH = 120
MAX_REPLY_WINDOW_DAYS = 365
MAX_AGE_DAYS = 36500
MAX_INACTIVITY_DAYS = 365

OPERATOR_LABELS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
}
LIST_OPERATORS = frozenset({"in", "not_in"})


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # enum | token | text | number | owner | timezone
    operators: tuple[str, ...]
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = 0


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("status", "Status", "enum", ("eq", "ne", "in", "not_in"), choices=LEAD_STATUSES),
        Field("score", "Score", "number", ("eq", "ne", "gt", "gte", "lt", "lte"), minimum=0, maximum=100),
        Field("score_band", "Score band", "token", ("eq", "ne", "in", "not_in")),
        Field("segment", "Segment", "text", ("eq", "ne", "in", "not_in", "contains", "not_contains")),
        Field("owner", "Owner", "owner", ("eq", "ne", "in", "not_in")),
        Field("timezone", "Time zone", "timezone", ("eq", "ne", "in", "not_in", "contains", "not_contains")),
        Field(
            "created_age_days",
            "Days since created",
            "number",
            ("eq", "ne", "gt", "gte", "lt", "lte"),
            minimum=0,
            maximum=MAX_AGE_DAYS,
        ),
    )
}
REPLY_KEY = "no_open_reply_within_days"
COMBINATORS = ("all", "any", "not")

EXIT_SWITCHES = {
    "conversion": "Exit when the lead converts",
    "disqualification": "Exit when the lead is disqualified",
    "unsubscribe": "Exit when the lead unsubscribes",
    "positive_reply": "Exit on a positive reply",
    "negative_reply": "Exit when the lead says not interested",
    "any_reply": "Exit on any reply",
}


def is_always_true(rule: Any) -> bool:
    return rule in ({}, {"all": []}, None)


# ---------------------------------------------------------------------------------------------------
# Validation


def validate(rule: Any, *, kind: str = "entry") -> list[str]:
    """Every problem with ``rule``, as sentences naming the bad part; an empty list means it is valid.

    ``kind`` is "entry" or "condition" for the rule language, "exit" for the exit-rule switches.
    """
    if kind == "exit":
        return validate_exit_rules(rule)
    if kind not in ("entry", "condition"):
        raise ValueError(f"unknown rule kind {kind!r}")
    if not isinstance(rule, dict):
        return ['The rule must be a JSON object, like {"all": [...]}.']
    if rule == {}:
        return []
    errors: list[str] = []
    counter = [0]
    if len(rule) == 1 and next(iter(rule)) in ("all", "any") and isinstance(next(iter(rule.values())), list):
        # The usual shape: number the top-level conditions 1..n as the editor shows them.
        key = next(iter(rule))
        _check_list(rule[key], key, "Rule", errors, counter, depth=1, top=True)
    else:
        _check_node(rule, "Rule", errors, counter, depth=1)
    if counter[0] > MAX_CONDITIONS:
        errors.append(f"The rule has {counter[0]} conditions; at most {MAX_CONDITIONS} are allowed.")
    return errors


def _check_list(items, key, where, errors, counter, depth, top=False) -> None:
    if not isinstance(items, list):
        errors.append(f"{where}: '{key}' must hold a list of conditions.")
        return
    if key == "any" and not items:
        errors.append(f"{where}: 'any' needs at least one condition.")
    for index, item in enumerate(items, start=1):
        label = f"Rule {index}" if top else f"{where}.{index}"
        _check_node(item, label, errors, counter, depth + (0 if top else 1))


def _check_node(node, where, errors, counter, depth) -> None:
    if depth > MAX_DEPTH:
        errors.append(f"{where}: conditions are nested more than {MAX_DEPTH} levels deep.")
        return
    if not isinstance(node, dict) or not node:
        errors.append(f"{where}: a condition must be a non-empty JSON object.")
        return
    keys = set(node)
    combinator = keys & set(COMBINATORS)
    if combinator:
        if len(keys) != 1:
            errors.append(
                f"{where}: '{sorted(combinator)[0]}' cannot be combined with {sorted(keys - combinator)}."
            )
            return
        key = next(iter(keys))
        if key == "not":
            _check_node(node["not"], f"{where} (not)", errors, counter, depth + 1)
        else:
            _check_list(node[key], key, where, errors, counter, depth)
        return
    counter[0] += 1
    if REPLY_KEY in keys:
        if len(keys) != 1:
            errors.append(f"{where}: '{REPLY_KEY}' stands alone; remove {sorted(keys - {REPLY_KEY})}.")
            return
        days = node[REPLY_KEY]
        if not _is_int(days) or not 1 <= days <= MAX_REPLY_WINDOW_DAYS:
            errors.append(
                f"{where}: the reply window must be a whole number of days from 1 to {MAX_REPLY_WINDOW_DAYS}."
            )
        return
    if "field" not in keys:
        errors.append(
            f"{where}: unknown condition {sorted(keys)}; use a field condition, all, any, not or {REPLY_KEY}."
        )
        return
    extra = keys - {"field", "op", "value"}
    if extra:
        errors.append(f"{where}: unknown keys {sorted(extra)}.")
    field = FIELDS.get(node["field"]) if isinstance(node["field"], str) else None
    if field is None:
        errors.append(f"{where}: unknown field {node['field']!r}; use one of {', '.join(FIELDS)}.")
        return
    op = node.get("op")
    if op not in field.operators:
        if op is None:
            errors.append(f"{where}: field '{field.name}' needs an operator.")
        else:
            errors.append(f"{where}: operator {op!r} is not allowed for field '{field.name}'.")
        return
    if "value" not in node:
        errors.append(f"{where}: field '{field.name}' needs a value.")
        return
    value = node["value"]
    if op in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            errors.append(
                f"{where}: '{OPERATOR_LABELS[op]}' needs a non-empty list of values for '{field.name}'."
            )
            return
        if len(value) > MAX_LIST_VALUES:
            errors.append(f"{where}: at most {MAX_LIST_VALUES} values are allowed, not {len(value)}.")
            return
        for item in value:
            problem = _value_problem(field, op, item)
            if problem:
                errors.append(f"{where}: {problem}")
                return
    else:
        problem = _value_problem(field, op, value)
        if problem:
            errors.append(f"{where}: {problem}")


def _value_problem(field: Field, op: str, value: Any) -> str | None:
    if field.kind == "number":
        if not _is_int(value):
            return f"'{field.name}' compares with a whole number, not {value!r}."
        if not field.minimum <= value <= field.maximum:
            return f"'{field.name}' must be between {field.minimum} and {field.maximum}, not {value}."
        return None
    if not isinstance(value, str):
        return f"'{field.name}' compares with text, not {value!r}."
    if field.kind == "enum" and value not in field.choices:
        return f"{value!r} is not a {field.label.lower()}; use one of {', '.join(field.choices)}."
    if field.kind == "owner":
        if value != "none" and _parse_uuid(value) is None:
            return f'{value!r} is not a user id (or "none" for leads without an owner).'
        return None
    if field.kind == "timezone" and op not in ("contains", "not_contains") and value not in _time_zones():
        return f"{value!r} is not a time zone name like Europe/Berlin."
    if not value.strip():
        return f"'{field.name}' needs a value that is not blank."
    if len(value) > MAX_TEXT_LENGTH:
        return f"'{field.name}' values are at most {MAX_TEXT_LENGTH} characters."
    if any(ch in value for ch in "\x00\r\n\t"):
        return f"'{field.name}' values cannot hold control characters."
    return None


def validate_exit_rules(rules: Any) -> list[str]:
    """Problems with the exit-rule switches: known keys, on/off values, inactivity as 1..365 days or none."""
    if not isinstance(rules, dict):
        return ["Exit rules must be a JSON object of switches."]
    errors = []
    for key, value in rules.items():
        if key == "inactivity_days":
            if value is not None and (not _is_int(value) or not 1 <= value <= MAX_INACTIVITY_DAYS):
                errors.append(
                    f"Exit rule 'inactivity_days': a whole number of days from 1 to {MAX_INACTIVITY_DAYS}, or off."
                )
        elif key in EXIT_SWITCHES:
            if not isinstance(value, bool):
                errors.append(f"Exit rule '{key}': must be on or off (true or false).")
        else:
            errors.append(f"Exit rule '{key}': unknown; use {', '.join(DEFAULT_EXIT_RULES)}.")
    return errors


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@cache
def _time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


# ---------------------------------------------------------------------------------------------------
# Compilation to SQL


class ascii_lower(FunctionElement):
    """Lower-case ASCII letters only: what SQLite's lower() does, spelled out for PostgreSQL."""

    type = sa.String()
    name = "ascii_lower"
    inherit_cache = True


@compiles(ascii_lower)
def _ascii_lower_default(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgresql(element, compiler, **kw):
    upper, lower = string.ascii_uppercase, string.ascii_lowercase
    return f"translate({compiler.process(element.clauses, **kw)}, '{upper}', '{lower}')"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_COLUMNS = {
    "status": Lead.status,
    "score": Lead.score,
    "score_band": Lead.score_band,
    "segment": Lead.segment,
    "timezone": sa.func.coalesce(Lead.timezone, ""),
}


def compile_filter(rule: dict, *, now: datetime) -> sa.ColumnElement[bool]:
    """A SQL boolean over ``Lead`` that is true exactly where ``evaluate`` is; ``rule`` must be valid."""
    if is_always_true(rule):
        return sa.true()
    return _compile(rule, now)


def _compile(node: dict, now: datetime) -> sa.ColumnElement[bool]:
    if "all" in node:
        parts = [_compile(child, now) for child in node["all"]]
        return sa.and_(*parts) if parts else sa.true()
    if "any" in node:
        parts = [_compile(child, now) for child in node["any"]]
        return sa.or_(*parts) if parts else sa.false()
    if "not" in node:
        return sa.not_(_compile(node["not"], now))
    if REPLY_KEY in node:
        since = now - timedelta(days=node[REPLY_KEY])
        open_reply = sa.exists().where(
            LeadReply.lead_id == Lead.id,
            LeadReply.thread_open.is_(True),
            LeadReply.received_at >= since,
            LeadReply.received_at <= now,
        )
        return sa.not_(open_reply)
    field, op, value = node["field"], node["op"], node["value"]
    if field == "owner":
        return _compile_owner(op, value)
    if field == "created_age_days":
        return _compile_age(op, value, now)
    column = _COLUMNS[field]
    if op == "eq":
        return column == value
    if op == "ne":
        return column != value
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return column.not_in(value)
    if op in ("contains", "not_contains"):
        match = ascii_lower(column).contains(value.translate(_ASCII_LOWER), autoescape=True)
        return match if op == "contains" else sa.not_(match)
    return {"gt": column > value, "gte": column >= value, "lt": column < value, "lte": column <= value}[op]


def _owner_is(value: str) -> sa.ColumnElement[bool]:
    if value == "none":
        return Lead.owner_id.is_(None)
    # The IS NOT NULL keeps the comparison two-valued for unowned leads.
    return sa.and_(Lead.owner_id.is_not(None), Lead.owner_id == _parse_uuid(value))


def _compile_owner(op: str, value) -> sa.ColumnElement[bool]:
    match = sa.or_(*[_owner_is(v) for v in value]) if op in LIST_OPERATORS else _owner_is(value)
    return match if op in ("eq", "in") else sa.not_(match)


def _compile_age(op: str, days: int, now: datetime) -> sa.ColumnElement[bool]:
    def at_least(n: int) -> sa.ColumnElement[bool]:
        return Lead.created_at <= now - timedelta(days=n)

    return _age_predicate(op, days, at_least, sa.and_, sa.not_)


def _age_predicate(op, days, at_least, both, negate):
    """The age operators in terms of "created at least n days ago", shared by SQL and Python."""
    if op == "gte":
        return at_least(days)
    if op == "gt":
        return at_least(days + 1)
    if op == "lt":
        return negate(at_least(days))
    if op == "lte":
        return negate(at_least(days + 1))
    exactly = both(at_least(days), negate(at_least(days + 1)))
    return exactly if op == "eq" else negate(exactly)


# ---------------------------------------------------------------------------------------------------
# Evaluation in Python


def evaluate(rule: dict, lead: Lead, *, now: datetime, replies: Iterable[LeadReply]) -> bool:
    """Whether ``lead`` satisfies ``rule`` at ``now``; ``replies`` are the lead's LeadReply rows."""
    if is_always_true(rule):
        return True
    return _evaluate(rule, lead, now, list(replies))


def _evaluate(node: dict, lead: Lead, now: datetime, replies: Sequence[LeadReply]) -> bool:
    if "all" in node:
        return all(_evaluate(child, lead, now, replies) for child in node["all"])
    if "any" in node:
        return any(_evaluate(child, lead, now, replies) for child in node["any"])
    if "not" in node:
        return not _evaluate(node["not"], lead, now, replies)
    if REPLY_KEY in node:
        since = now - timedelta(days=node[REPLY_KEY])
        return not any(r.thread_open and since <= r.received_at <= now for r in replies)
    field, op, value = node["field"], node["op"], node["value"]
    if field == "owner":
        matches = [_owner_matches(lead, v) for v in (value if op in LIST_OPERATORS else [value])]
        return any(matches) if op in ("eq", "in") else not any(matches)
    if field == "created_age_days":
        return _age_predicate(
            op,
            value,
            lambda n: lead.created_at <= now - timedelta(days=n),
            lambda a, b: a and b,
            lambda a: not a,
        )
    actual = _lead_value(lead, field)
    if op == "eq":
        return actual == value
    if op == "ne":
        return actual != value
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if op in ("contains", "not_contains"):
        found = value.translate(_ASCII_LOWER) in actual.translate(_ASCII_LOWER)
        return found if op == "contains" else not found
    return {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}[op]


def _lead_value(lead: Lead, field: str):
    if field == "timezone":
        return lead.timezone or ""
    return getattr(lead, field)


def _owner_matches(lead: Lead, value: str) -> bool:
    if value == "none":
        return lead.owner_id is None
    return lead.owner_id is not None and lead.owner_id == _parse_uuid(value)


# ---------------------------------------------------------------------------------------------------
# Plain words


def top_level_clauses(rule: dict) -> list[dict]:
    """The clauses a person reads as a list: the members of a top-level ``all``, else the rule itself."""
    if is_always_true(rule):
        return []
    if set(rule) == {"all"}:
        return list(rule["all"])
    return [rule]


def describe(rule: dict, *, owner_names: dict[str, str] | None = None) -> list[str]:
    """Each top-level clause of a valid ``rule`` in plain words; ``[]`` for the always-true rule."""
    return [describe_clause(clause, owner_names=owner_names) for clause in top_level_clauses(rule)]


def explain(
    rule: dict,
    lead: Lead,
    *,
    now: datetime,
    replies: Iterable[LeadReply],
    owner_names: dict[str, str] | None = None,
) -> list[tuple[str, bool]]:
    """Each top-level clause in plain words, with whether ``lead`` passes it at ``now``."""
    replies = list(replies)
    return [
        (describe_clause(clause, owner_names=owner_names), _evaluate(clause, lead, now, replies))
        for clause in top_level_clauses(rule)
    ]


def describe_clause(node: dict, *, owner_names: dict[str, str] | None = None) -> str:
    if "all" in node:
        parts = [describe_clause(c, owner_names=owner_names) for c in node["all"]]
        return "all of (" + "; ".join(parts) + ")" if parts else "always"
    if "any" in node:
        parts = [describe_clause(c, owner_names=owner_names) for c in node["any"]]
        return "any of (" + "; ".join(parts) + ")" if parts else "never"
    if "not" in node:
        return "not (" + describe_clause(node["not"], owner_names=owner_names) + ")"
    if REPLY_KEY in node:
        days = node[REPLY_KEY]
        return f"No open reply thread in the last {days} day{'s' if days != 1 else ''}"
    field = FIELDS[node["field"]]
    op, value = node["op"], node["value"]

    def show(v) -> str:
        if field.kind == "owner":
            if v == "none":
                return "nobody"
            return (owner_names or {}).get(str(v), "a specific user")
        if isinstance(v, str):
            return f"“{v}”" if field.kind == "text" else v
        return str(v)

    if field.name == "created_age_days":
        phrase = {
            "eq": "exactly",
            "ne": "not exactly",
            "gt": "more than",
            "gte": "at least",
            "lt": "less than",
            "lte": "at most",
        }[op]
        return f"Created {phrase} {value} day{'s' if value != 1 else ''} ago"
    if op in LIST_OPERATORS:
        values = ", ".join(show(v) for v in value)
        return f"{field.label} {OPERATOR_LABELS[op]} {values}"
    return f"{field.label} {OPERATOR_LABELS[op]} {show(value)}"
