"""The rule compiled to SQL and the rule evaluated in Python agree on every lead.

Runs against the suite's database: SQLite locally, PostgreSQL when DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nurture_ui import rules
from nurture_ui.extensions import db
from nurture_ui.models import LEAD_STATUSES, Lead, LeadReply
from tests import factories

# A fixed instant keeps the boundaries exact: generated ages and reply times land on them often.
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SEGMENTS = ["SMB", "smb", "Mid-market", "Enterprise", "", "Ünternehmen", "ent%", "a_b"]
TIMEZONES = [None, "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
BANDS = ["cold", "warm", "hot"]
OWNER_SLOTS = ["none", 0, 1]  # 0 and 1 index the two users made per test

# Small ranges on purpose: ages and reply times often land exactly on a rule's day boundary.
DAYS = st.integers(0, 6)
offsets = st.one_of(
    DAYS.map(lambda d: timedelta(days=d)),
    st.tuples(DAYS, st.sampled_from([-1, 1])).map(lambda t: timedelta(days=t[0], microseconds=t[1])),
    st.integers(0, 7 * 24 * 60).map(lambda m: timedelta(minutes=m)),
)

lead_rows = st.fixed_dictionaries(
    {
        "status": st.sampled_from(LEAD_STATUSES),
        "score": st.integers(0, 100),
        "score_band": st.sampled_from(BANDS),
        "segment": st.sampled_from(SEGMENTS),
        "timezone": st.sampled_from(TIMEZONES),
        "owner": st.sampled_from([None, 0, 1]),
        "age": offsets,
        "replies": st.lists(
            st.tuples(offsets, st.booleans(), st.booleans()),  # (age, thread open, in the future)
            max_size=3,
        ),
    }
)


def leaf():
    def field_rule(field, op, values):
        return st.builds(lambda v: {"field": field, "op": op, "value": v}, values)

    number_ops = ["eq", "ne", "gt", "gte", "lt", "lte"]
    text_ops = ["eq", "ne", "contains", "not_contains"]
    return st.one_of(
        st.sampled_from(["eq", "ne"]).flatmap(
            lambda op: field_rule("status", op, st.sampled_from(LEAD_STATUSES))
        ),
        st.sampled_from(["in", "not_in"]).flatmap(
            lambda op: field_rule(
                "status", op, st.lists(st.sampled_from(LEAD_STATUSES), min_size=1, max_size=3)
            )
        ),
        st.sampled_from(number_ops).flatmap(lambda op: field_rule("score", op, st.integers(0, 100))),
        st.sampled_from(number_ops).flatmap(lambda op: field_rule("created_age_days", op, DAYS)),
        st.sampled_from(["eq", "ne", "in", "not_in"]).flatmap(
            lambda op: field_rule(
                "score_band",
                op,
                st.lists(st.sampled_from(BANDS), min_size=1, max_size=2)
                if "in" in op
                else st.sampled_from(BANDS),
            )
        ),
        st.sampled_from(text_ops).flatmap(
            lambda op: field_rule(
                "segment", op, st.sampled_from([s for s in SEGMENTS if s] + ["ENT", "%", "_", "nt", "ünter"])
            )
        ),
        st.sampled_from(["in", "not_in"]).flatmap(
            lambda op: field_rule(
                "segment", op, st.lists(st.sampled_from([s for s in SEGMENTS if s]), min_size=1, max_size=3)
            )
        ),
        st.sampled_from(["eq", "ne"]).flatmap(
            lambda op: field_rule("timezone", op, st.sampled_from([t for t in TIMEZONES if t]))
        ),
        st.sampled_from(["contains", "not_contains"]).flatmap(
            lambda op: field_rule("timezone", op, st.sampled_from(["europe", "America/", "o"]))
        ),
        st.sampled_from(["eq", "ne"]).flatmap(
            lambda op: field_rule("owner", op, st.sampled_from(OWNER_SLOTS))
        ),
        st.sampled_from(["in", "not_in"]).flatmap(
            lambda op: field_rule("owner", op, st.lists(st.sampled_from(OWNER_SLOTS), min_size=1, max_size=2))
        ),
        st.integers(1, 6).map(lambda n: {rules.REPLY_KEY: n}),
    )


rule_trees = st.one_of(
    leaf(),
    st.recursive(
        leaf(),
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(children, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
            children.map(lambda x: {"not": x}),
        ),
        max_leaves=8,
    ),
)


def _bind_owners(node, owner_ids):
    """Swap the owner slots of a generated rule for the ids of the test's users."""
    if isinstance(node, dict):
        if node.get("field") == "owner":
            value = node["value"]

            def slot(v):
                return v if v == "none" else str(owner_ids[v])

            return {**node, "value": [slot(v) for v in value] if isinstance(value, list) else slot(value)}
        return {k: _bind_owners(v, owner_ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_bind_owners(v, owner_ids) for v in node]
    return node


def test_spec_entry_rule_agrees_on_a_known_lead(tenant):
    warm = factories.make_lead(
        tenant, status="contacted", score_band="warm", created_at=NOW - timedelta(days=3)
    )
    replied = factories.make_lead(tenant, status="new", score_band="warm")
    db.session.add(
        LeadReply(
            tenant_id=tenant.id, lead_id=replied.id, received_at=NOW - timedelta(days=2), sentiment="neutral"
        )
    )
    factories.make_lead(tenant, status="converted", score_band="warm")
    db.session.commit()
    rule = {
        "all": [
            {"field": "status", "op": "in", "value": ["new", "contacted", "qualified"]},
            {"field": "score_band", "op": "in", "value": ["warm"]},
            {"no_open_reply_within_days": 14},
        ]
    }
    matched = set(db.session.scalars(sa.select(Lead.id).where(rules.compile_filter(rule, now=NOW))))
    assert matched == {warm.id}
    assert rules.evaluate(rule, warm, now=NOW, replies=[])
    assert rules.explain(rule, replied, now=NOW, replies=replied_replies(replied)) == [
        ("Status is one of new, contacted, qualified", True),
        ("Score band is one of warm", True),
        ("No open reply thread in the last 14 days", False),
    ]


def _every_leaf(owner_ids):
    """One leaf per field, operator and boundary-relevant value."""
    values = {
        "status": ["new", "converted"],
        "score": [0, 50, 100],
        "score_band": ["warm"],
        "segment": ["SMB", "smb", "ent", "Ünternehmen", "ünter", "%", "a_b"],
        "owner": ["none", str(owner_ids[0])],
        "timezone": ["Europe/Berlin", "europe", "America/"],
        "created_age_days": [0, 1, 2, 3],
    }
    for name, field in rules.FIELDS.items():
        for op in field.operators:
            for value in values[name]:
                if field.kind == "timezone" and op in ("eq", "ne", "in", "not_in") and "/" not in value[1:-1]:
                    continue
                if (
                    field.kind == "timezone"
                    and op in ("contains", "not_contains")
                    and value == "Europe/Berlin"
                ):
                    continue
                yield {"field": name, "op": op, "value": [value] if op in rules.LIST_OPERATORS else value}
    for days in (1, 2, 3):
        yield {rules.REPLY_KEY: days}


def test_every_leaf_agrees_on_boundary_leads(tenant):
    owners = [factories.make_user(tenant, "rep")]
    leads = []
    for n, (days, nudge) in enumerate((d, u) for d in range(4) for u in (-1, 0, 1)):
        age = timedelta(days=days, microseconds=nudge)
        lead = Lead(
            tenant_id=tenant.id,
            email=f"b{n}@example.test",
            status=LEAD_STATUSES[n % len(LEAD_STATUSES)],
            score=[0, 50, 100, 49, 51][n % 5],
            score_band=BANDS[n % 3],
            segment=SEGMENTS[n % len(SEGMENTS)],
            timezone=TIMEZONES[n % len(TIMEZONES)],
            owner_id=owners[0].id if n % 2 else None,
            created_at=NOW - age,
        )
        db.session.add(lead)
        db.session.flush()
        replies = [
            LeadReply(
                tenant_id=tenant.id,
                lead_id=lead.id,
                received_at=NOW - age,
                sentiment="neutral",
                thread_open=bool(n % 3),
            )
        ]
        db.session.add_all(replies)
        leads.append((lead, replies))
    db.session.flush()
    for rule in _every_leaf([o.id for o in owners]):
        assert rules.validate(rule) == [], rule
        in_sql = set(
            db.session.scalars(
                sa.select(Lead.id).where(Lead.tenant_id == tenant.id, rules.compile_filter(rule, now=NOW))
            )
        )
        in_python = {
            lead.id for lead, replies in leads if rules.evaluate(rule, lead, now=NOW, replies=replies)
        }
        assert in_sql == in_python, rule


def replied_replies(lead):
    return db.session.scalars(sa.select(LeadReply).where(LeadReply.lead_id == lead.id)).all()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rule=rule_trees, leads=st.lists(lead_rows, min_size=1, max_size=8))
def test_sql_and_python_agree(tenant, rule, leads):
    owners = _owners(tenant)
    rule = _bind_owners(rule, [o.id for o in owners])
    assert rules.validate(rule) == [], rule
    made = []
    try:
        for n, row in enumerate(leads):
            lead = Lead(
                tenant_id=tenant.id,
                email=f"p{n}@example.test",
                status=row["status"],
                score=row["score"],
                score_band=row["score_band"],
                segment=row["segment"],
                timezone=row["timezone"],
                owner_id=None if row["owner"] is None else owners[row["owner"]].id,
                created_at=NOW - row["age"],
            )
            db.session.add(lead)
            db.session.flush()
            replies = [
                LeadReply(
                    tenant_id=tenant.id,
                    lead_id=lead.id,
                    received_at=(NOW + age) if future else (NOW - age),
                    sentiment="neutral",
                    thread_open=is_open,
                )
                for age, is_open, future in row["replies"]
            ]
            db.session.add_all(replies)
            made.append((lead, replies))
        db.session.flush()
        in_sql = set(
            db.session.scalars(
                sa.select(Lead.id).where(Lead.tenant_id == tenant.id, rules.compile_filter(rule, now=NOW))
            )
        )
        in_python = {
            lead.id for lead, replies in made if rules.evaluate(rule, lead, now=NOW, replies=replies)
        }
        assert in_sql == in_python, rule
    finally:
        db.session.rollback()


_owner_cache: dict = {}


def _owners(tenant):
    # Hypothesis calls the test many times with one fixture value: make the users once per tenant.
    if tenant.id not in _owner_cache:
        _owner_cache.clear()
        _owner_cache[tenant.id] = [factories.make_user(tenant, "rep"), factories.make_user(tenant, "rep")]
    return _owner_cache[tenant.id]
