"""The rule language refuses bad rules with messages that name the bad part."""

from __future__ import annotations

import uuid

import pytest

from nurture_ui import rules

SPEC_ENTRY_RULE = {
    "all": [
        {"field": "status", "op": "in", "value": ["new", "contacted", "qualified"]},
        {"field": "score_band", "op": "in", "value": ["warm"]},
        {"no_open_reply_within_days": 14},
    ]
}


@pytest.mark.parametrize("rule", [{}, {"all": []}, SPEC_ENTRY_RULE])
def test_valid_rules_have_no_errors(rule):
    assert rules.validate(rule) == []


def test_every_field_and_operator_has_a_valid_form():
    owner = str(uuid.uuid4())
    rule = {
        "any": [
            {"field": "score", "op": "gte", "value": 60},
            {"field": "segment", "op": "contains", "value": "ent"},
            {"field": "owner", "op": "in", "value": ["none", owner]},
            {"field": "timezone", "op": "eq", "value": "Europe/Berlin"},
            {"field": "timezone", "op": "contains", "value": "America/"},
            {"field": "created_age_days", "op": "lt", "value": 30},
            {"not": {"field": "status", "op": "eq", "value": "converted"}},
        ]
    }
    assert rules.validate(rule) == []


def test_operator_not_allowed_for_field_names_rule_and_field():
    rule = {
        "all": [{"field": "score", "op": "gte", "value": 1}, {"field": "status", "op": "between", "value": 1}]
    }
    assert rules.validate(rule) == ["Rule 2: operator 'between' is not allowed for field 'status'."]


def test_unknown_field_lists_the_known_ones():
    [error] = rules.validate({"all": [{"field": "colour", "op": "eq", "value": "red"}]})
    assert error.startswith("Rule 1: unknown field 'colour'")
    assert "status" in error and "created_age_days" in error


def test_unknown_status_value_names_the_choices():
    [error] = rules.validate({"all": [{"field": "status", "op": "in", "value": ["new", "sleepy"]}]})
    assert (
        error
        == "Rule 1: 'sleepy' is not a status; use one of new, contacted, qualified, converted, disqualified."
    )


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ({"field": "score", "op": "gt", "value": "60"}, "'score' compares with a whole number, not '60'."),
        ({"field": "score", "op": "gt", "value": True}, "'score' compares with a whole number, not True."),
        ({"field": "score", "op": "gt", "value": 500}, "'score' must be between 0 and 100, not 500."),
        ({"field": "segment", "op": "eq", "value": "  "}, "'segment' needs a value that is not blank."),
        ({"field": "segment", "op": "eq", "value": 3}, "'segment' compares with text, not 3."),
        (
            {"field": "segment", "op": "in", "value": []},
            "'is one of' needs a non-empty list of values for 'segment'.",
        ),
        (
            {"field": "segment", "op": "in", "value": "SMB"},
            "'is one of' needs a non-empty list of values for 'segment'.",
        ),
        (
            {"field": "owner", "op": "eq", "value": "bob"},
            "'bob' is not a user id (or \"none\" for leads without an owner).",
        ),
        (
            {"field": "timezone", "op": "eq", "value": "Mars/Base"},
            "'Mars/Base' is not a time zone name like Europe/Berlin.",
        ),
        ({"field": "score", "op": "gt"}, "field 'score' needs a value."),
        ({"field": "score", "value": 3}, "field 'score' needs an operator."),
        ({"no_open_reply_within_days": 0}, "the reply window must be a whole number of days from 1 to 365."),
        (
            {"no_open_reply_within_days": 14, "op": "eq"},
            "'no_open_reply_within_days' stands alone; remove ['op'].",
        ),
        (
            {"colour": "red"},
            "unknown condition ['colour']; use a field condition, all, any, not or no_open_reply_within_days.",
        ),
        ({"any": []}, "'any' needs at least one condition."),
        ({"field": "score", "op": "gt", "value": 1, "unit": "pts"}, "unknown keys ['unit']."),
    ],
)
def test_bad_clause_messages(clause, expected):
    assert rules.validate({"all": [clause]}) == [f"Rule 1: {expected}"]


def test_nested_errors_carry_their_path():
    rule = {
        "all": [
            {"no_open_reply_within_days": 3},
            {"any": [{"field": "score", "op": "gt", "value": 1}, {"field": "x"}]},
        ]
    }
    [error] = rules.validate(rule)
    assert error.startswith("Rule 2.2: unknown field 'x'")


def test_not_errors_are_named():
    [error] = rules.validate({"all": [{"not": {"field": "score", "op": "eq", "value": -1}}]})
    assert error == "Rule 1 (not): 'score' must be between 0 and 100, not -1."


def test_sizes_are_bounded():
    too_many = {"all": [{"field": "score", "op": "gte", "value": 1}] * 51}
    assert rules.validate(too_many) == ["The rule has 51 conditions; at most 50 are allowed."]
    deep: dict = {"field": "score", "op": "gte", "value": 1}
    for _ in range(6):
        deep = {"not": deep}
    assert "nested more than 5 levels deep" in rules.validate(deep)[0]
    long_list = {"field": "segment", "op": "in", "value": [f"s{i}" for i in range(51)]}
    assert rules.validate(long_list) == ["Rule: at most 50 values are allowed, not 51."]
    assert "at most 120 characters" in rules.validate({"field": "segment", "op": "eq", "value": "x" * 121})[0]


def test_a_rule_must_be_an_object():
    assert rules.validate([1, 2]) == ['The rule must be a JSON object, like {"all": [...]}.']
    assert rules.validate({"all": "everything"}) == ["Rule: 'all' must hold a list of conditions."]


def test_exit_rules_are_switches():
    assert (
        rules.validate(
            {
                "conversion": True,
                "disqualification": True,
                "unsubscribe": True,
                "positive_reply": True,
                "any_reply": False,
                "inactivity_days": None,
            },
            kind="exit",
        )
        == []
    )
    assert rules.validate({"positive_reply": "yes", "inactivity_days": 0, "moon": True}, kind="exit") == [
        "Exit rule 'positive_reply': must be on or off (true or false).",
        "Exit rule 'inactivity_days': a whole number of days from 1 to 365, or off.",
        "Exit rule 'moon': unknown; use conversion, disqualification, unsubscribe, positive_reply, negative_reply, any_reply, inactivity_days.",
    ]


def test_describe_reads_like_the_editor():
    owner = str(uuid.uuid4())
    rule = {
        "all": [
            *SPEC_ENTRY_RULE["all"],
            {"field": "owner", "op": "eq", "value": owner},
            {"field": "created_age_days", "op": "gte", "value": 7},
            {"field": "segment", "op": "contains", "value": "ent"},
        ]
    }
    assert rules.describe(rule, owner_names={owner: "Rob Rep"}) == [
        "Status is one of new, contacted, qualified",
        "Score band is one of warm",
        "No open reply thread in the last 14 days",
        "Owner is Rob Rep",
        "Created at least 7 days ago",
        "Segment contains “ent”",
    ]
    assert rules.describe({}) == []
