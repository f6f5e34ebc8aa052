"""The rule editor's form: rows (field · operator · value) or raw JSON, to and from a rule.

The editor is server-driven: every change (add a row, pick a field, switch to JSON) posts the whole
editor and gets it back re-rendered, so there is one source of truth for operators and value widgets:
``nurture_ui.rules.FIELDS``. Whatever the person typed is kept, valid or not, and errors land on the
row they are about.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from nurture_ui import rules

REPLY_FIELD = rules.REPLY_KEY
MAX_ROWS = 20
ROW_ERROR = re.compile(r"^Rule (\d+)(?:[.\s(][^:]*)?: (.*)$")


@dataclass
class Row:
    field: str = "status"
    op: str = "in"
    value: object = None  # a string as typed, or a list for multi-value widgets

    @property
    def is_reply(self) -> bool:
        return self.field == REPLY_FIELD


@dataclass
class RuleEditor:
    prefix: str
    mode: str = "rows"  # rows | json
    match: str = "all"  # all | any
    rows: list[Row] = field(default_factory=list)
    json_text: str = ""
    errors: list[str] = field(default_factory=list)  # rule-wide
    row_errors: dict[int, list[str]] = field(default_factory=dict)  # 0-based row index
    nested: bool = False  # the rule cannot be shown as rows

    def rule(self) -> dict | None:
        """The rule this editor holds, or None when its JSON does not parse."""
        if self.mode == "json":
            try:
                value = json.loads(self.json_text or "{}")
            except json.JSONDecodeError as error:
                self.errors = [
                    f"The JSON does not parse: {error.msg} (line {error.lineno}, column {error.colno})."
                ]
                return None
            except RecursionError:
                self.errors = [f"The JSON is nested too deeply: rules nest at most {rules.MAX_DEPTH} levels."]
                return None
            return value
        leaves = [_row_to_leaf(row) for row in self.rows]
        if not leaves:
            return {}
        return {self.match: leaves}

    def check(self) -> dict | None:
        """Validate; fill ``errors``/``row_errors``; the rule when valid, else None."""
        rule = self.rule()
        if rule is None:
            return None
        messages = rules.validate(rule, kind="entry")
        self.errors, self.row_errors = [], {}
        for message in messages:
            found = ROW_ERROR.match(message)
            if self.mode == "rows" and found and int(found.group(1)) <= len(self.rows):
                self.row_errors.setdefault(int(found.group(1)) - 1, []).append(found.group(2))
            else:
                self.errors.append(message)
        return None if messages else rule


def _row_to_leaf(row: Row) -> dict:
    if row.is_reply:
        return {REPLY_FIELD: _number(row.value)}
    spec = rules.FIELDS.get(row.field)
    value = row.value
    if spec is not None and row.op in rules.LIST_OPERATORS:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        value = [_number(v) if spec.kind == "number" else v for v in (value or [])]
    elif spec is not None and spec.kind == "number":
        value = _number(value)
    elif isinstance(value, list):
        value = value[0] if value else ""
    return {"field": row.field, "op": row.op, "value": "" if value is None else value}


def _number(value):
    text = str(value if value is not None else "").strip()
    try:
        return int(text)
    except ValueError:
        return text  # kept as typed: validation names it


def editor_from_rule(rule: dict | None, prefix: str) -> RuleEditor:
    """An editor showing ``rule`` as rows when it is flat, else in JSON."""
    rule = rule or {}
    editor = RuleEditor(prefix=prefix, json_text=json.dumps(rule, indent=2))
    if rule == {}:
        return editor
    if len(rule) == 1 and next(iter(rule)) in ("all", "any") and isinstance(next(iter(rule.values())), list):
        match = next(iter(rule))
        leaves = rule[match]
        if all(isinstance(leaf, dict) and ("field" in leaf or REPLY_FIELD in leaf) for leaf in leaves):
            editor.match = match
            editor.rows = [_leaf_to_row(leaf) for leaf in leaves]
            return editor
    if "field" in rule or REPLY_FIELD in rule:
        editor.rows = [_leaf_to_row(rule)]
        return editor
    editor.mode, editor.nested = "json", True
    return editor


def _leaf_to_row(leaf: dict) -> Row:
    if REPLY_FIELD in leaf:
        return Row(field=REPLY_FIELD, op="eq", value=str(leaf[REPLY_FIELD]))
    value = leaf.get("value")
    spec = rules.FIELDS.get(leaf.get("field"))
    if isinstance(value, list) and spec is not None and spec.kind not in ("enum", "owner"):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, int):
        value = str(value)
    return Row(field=str(leaf.get("field")), op=str(leaf.get("op")), value=value)


def editor_from_form(form: MultiDict, prefix: str) -> RuleEditor:
    """Read the editor's fields as posted, whatever they hold."""
    editor = RuleEditor(
        prefix=prefix,
        mode="json" if form.get(f"{prefix}-mode") == "json" else "rows",
        match="any" if form.get(f"{prefix}-match") == "any" else "all",
        json_text=form.get(f"{prefix}-json", "")[:20_000],
    )
    count = min(_int(form.get(f"{prefix}-count"), 0), MAX_ROWS)
    for i in range(count):
        name = f"{prefix}-{i}"
        if f"{name}-field" not in form:
            continue
        row = Row(field=form.get(f"{name}-field", "status"), op=form.get(f"{name}-op", "eq"))
        spec = rules.FIELDS.get(row.field)
        if spec is not None and spec.kind in ("enum", "owner") and row.op in rules.LIST_OPERATORS:
            row.value = form.getlist(f"{name}-value")
        else:
            row.value = form.get(f"{name}-value", "")
        editor.rows.append(row)
    return editor


def apply_action(editor: RuleEditor, action: str) -> None:
    """An editing action from the editor's controls: add, remove:N, field:N, op:N, to_json, to_rows."""
    if action == "add" and len(editor.rows) < MAX_ROWS:
        editor.rows.append(Row(field="status", op="in", value=[]))
    elif action.startswith("remove:"):
        index = _int(action.split(":", 1)[1], -1)
        if 0 <= index < len(editor.rows):
            del editor.rows[index]
    elif action.startswith("field:"):
        # A new field: keep the operator when it still fits, else take the field's first; clear the value.
        index = _int(action.split(":", 1)[1], -1)
        if 0 <= index < len(editor.rows):
            row = editor.rows[index]
            ops = operators_for(row.field)
            if row.op not in ops:
                row.op = ops[0]
            row.value = "14" if row.is_reply else None
    elif action.startswith("op:"):
        # A new operator: carry the value across between one value and a list of values.
        index = _int(action.split(":", 1)[1], -1)
        if 0 <= index < len(editor.rows):
            row = editor.rows[index]
            if (
                row.op in rules.LIST_OPERATORS
                and isinstance(row.value, str)
                and rules.FIELDS.get(row.field, None)
            ):
                if rules.FIELDS[row.field].kind in ("enum", "owner"):
                    row.value = [row.value] if row.value else []
            elif row.op not in rules.LIST_OPERATORS and isinstance(row.value, list):
                row.value = row.value[0] if row.value else None
    elif action == "to_json":
        rule = editor.rule()
        editor.mode = "json"
        editor.json_text = json.dumps(rule if rule is not None else {}, indent=2)
    elif action == "to_rows":
        rule = editor.rule()
        if rule is not None:
            converted = editor_from_rule(rule, editor.prefix)
            if converted.nested:
                editor.errors = ["This rule nests all / any / not, so it can only be edited as JSON."]
            else:
                converted.json_text = editor.json_text
                editor.__dict__.update(converted.__dict__)


def operators_for(field_name: str) -> tuple[str, ...]:
    if field_name == REPLY_FIELD:
        return ("eq",)
    spec = rules.FIELDS.get(field_name)
    return spec.operators if spec else ("eq",)


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
