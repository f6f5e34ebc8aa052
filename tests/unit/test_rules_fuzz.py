"""Hostile rules: whatever JSON arrives, the rule language answers with messages, never a crash.

``validate`` returns sentences for anything invalid; for anything it accepts, ``compile_filter``,
``evaluate``, ``describe`` and ``explain`` must work (no KeyError, TypeError or RecursionError later on).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from nurture_ui import rules
from nurture_ui.models import Lead, LeadReply

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WORDS = [
    "all", "any", "not", "field", "op", "value", rules.REPLY_KEY, *rules.FIELDS, *rules.OPERATOR_LABELS,
    "new", "warm", "none", "Europe/Berlin", "", " ", "\x00", "\r\n", "é", "<script>", "' OR 1=1 --", "%", "_",
]  # fmt: skip

# JSON as a hostile client would send it: the rule language's own words in the wrong places,
# odd numbers and strings, deep and wide nesting.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=200),
    st.just(str(uuid.UUID(int=1))),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=40,
)
# Near-misses: well-formed nodes with one part swapped for something arbitrary.
near_leaf = st.fixed_dictionaries(
    {
        "field": st.one_of(st.sampled_from(list(rules.FIELDS)), scalars),
        "op": st.one_of(st.sampled_from(list(rules.OPERATOR_LABELS)), scalars),
        "value": json_values,
    }
)
near_rules = st.recursive(
    st.one_of(near_leaf, st.fixed_dictionaries({rules.REPLY_KEY: scalars})),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: {"all": xs}),
        st.lists(children, max_size=4).map(lambda xs: {"any": xs}),
        children.map(lambda x: {"not": x}),
    ),
    max_leaves=12,
)
hostile = st.one_of(json_values, near_rules)


def _lead() -> Lead:
    return Lead(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        email="fuzz@example.test",
        first_name="F",
        status="new",
        score=50,
        score_band="warm",
        segment="SMB",
        timezone=None,
        owner_id=None,
        created_at=NOW,
    )


def _exercise_valid(rule) -> None:
    condition = rules.compile_filter(rule, now=NOW)
    statement = sa.select(Lead.id).where(condition)
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        str(statement.compile(dialect=dialect))
    reply = LeadReply(lead_id=uuid.uuid4(), received_at=NOW, thread_open=True, sentiment="neutral")
    assert rules.evaluate(rule, _lead(), now=NOW, replies=[reply]) in (True, False)
    for line in rules.describe(rule):
        assert isinstance(line, str)
    rules.explain(rule, _lead(), now=NOW, replies=[])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=hostile, kind=st.sampled_from(["entry", "condition"]))
def test_hostile_rules_get_messages_or_work_end_to_end(rule, kind):
    errors = rules.validate(rule, kind=kind)
    assert isinstance(errors, list) and all(isinstance(e, str) and e for e in errors)
    if not errors:
        _exercise_valid(rule)


@settings(max_examples=200, deadline=None)
@given(rule=json_values)
def test_hostile_exit_rules_get_messages(rule):
    errors = rules.validate(rule, kind="exit")
    assert isinstance(errors, list) and all(isinstance(e, str) and e for e in errors)


def test_deep_nesting_is_refused_not_a_recursion_error():
    rule: dict = {"field": "score", "op": "gte", "value": 1}
    for _ in range(5000):
        rule = {"not": rule}
    errors = rules.validate(rule)
    assert errors and "nested more than" in errors[0]


def test_wide_rules_are_refused_with_the_limit():
    rule = {"any": [{"field": "score", "op": "eq", "value": n} for n in range(10_000)]}
    errors = rules.validate(rule)
    assert any(f"at most {rules.MAX_CONDITIONS}" in e for e in errors)
