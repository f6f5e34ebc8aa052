"""Email templates: sandboxed Jinja, refused on save with the line, rendered for the engine."""

from __future__ import annotations

import pytest

from nurture_ui import templating
from nurture_ui.templating import TemplateInput, TemplateProblem
from tests import factories


def _input(**fields):
    values = dict(
        key="intro", name="Intro", subject="Hi {{ lead.first_name }}", body="Hello {{ lead.company }}"
    )
    values.update(fields)
    return TemplateInput(**values)


def test_render_email_with_lead_and_owner(tenant):
    owner = factories.make_user(tenant, "rep", name="Rob Rep")
    lead = factories.make_lead(tenant, first_name="Ada", company="Initech", owner_id=owner.id)
    template = factories.make_template(
        tenant,
        subject="Idea for {{ lead.company }}\nBcc: evil@x",
        body="Hi {{ lead.first_name }},\n\n{{ owner.first_name }}",
    )
    assert templating.render_email(template, lead, owner) == (
        "Idea for Initech Bcc: evil@x",
        "Hi Ada,\n\nRob",
    )


def test_render_email_without_owner_signs_as_the_team(tenant):
    lead = factories.make_lead(tenant)
    template = factories.make_template(tenant, body="{{ owner.name }}")
    assert templating.render_email(template, lead, None)[1] == "The Acme team"


def test_render_refuses_unknown_fields_rather_than_blanks(tenant):
    lead = factories.make_lead(tenant)
    template = factories.make_template(tenant, body="Hi {{ lead.nickname }}")
    with pytest.raises(TemplateProblem, match="Body"):
        templating.render_email(template, lead, None)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"body": "Hi\n{{ lead.first_name }\n"}, "body", "Body, line 2: unexpected '}'"),
        (
            {"body": "Hi\n\n{{ lead.nickname }}"},
            "body",
            "Body, line 3: unknown field 'lead.nickname'; use one of",
        ),
        (
            {"subject": "{{ secret }}"},
            "subject",
            "Subject, line 1: unknown name 'secret'; use lead.… or owner.…",
        ),
        ({"body": "{{ lead.__class__ }}"}, "body", "Body, line 1: unknown field 'lead.__class__'"),
        ({"body": "{{ lead.first_name.__class__.__mro__ }}"}, "body", "Body: "),
        ({"subject": "  "}, "subject", "Enter a subject."),
        ({"key": "Intro Email"}, "key", "Use lowercase letters, digits and dashes"),
        ({"name": ""}, "name", "Enter a name."),
    ],
)
def test_bad_templates_are_refused_with_the_line(tenant, fields, field, message):
    errors = templating.template_errors(tenant.id, _input(**fields))
    assert field in errors, errors
    assert errors[field][0].startswith(message), errors


def test_loops_and_sets_are_fine(tenant):
    body = "{% set n = lead.first_name %}{% for c in n %}{{ c }}{% endfor %} {{ lead.score + 1 }}"
    assert templating.template_errors(tenant.id, _input(body=body)) == {}


def test_save_and_key_rules(tenant):
    marketer = factories.make_user(tenant, "marketer")
    template, errors = templating.save_template(tenant.id, _input(pre_approved=True), actor=marketer)
    assert errors == {} and template.pre_approved
    _, errors = templating.save_template(tenant.id, _input(), actor=marketer)
    assert errors == {"key": ["Another template already uses the key 'intro'."]}
    factories.make_sequence(tenant, name="Warm", steps=[{"channel": "email", "template_id": "intro"}])
    _, errors = templating.save_template(tenant.id, _input(key="hello"), actor=marketer, existing=template)
    assert errors == {"key": ["Steps use this template by its key, so the key cannot change."]}


def test_only_editors_set_pre_approved(tenant):
    rep = factories.make_user(tenant, "rep")
    template, _ = templating.save_template(tenant.id, _input(pre_approved=True), actor=rep)
    assert template.pre_approved is False


def test_delete_refused_while_a_step_uses_it(tenant):
    marketer = factories.make_user(tenant, "marketer")
    template = factories.make_template(tenant, "intro")
    factories.make_sequence(tenant, name="Warm", steps=[{"channel": "email", "template_id": "intro"}])
    assert templating.delete_template(template, actor=marketer) == [
        "Used by Warm (step 1): change those steps first."
    ]
    unused = factories.make_template(tenant, "other")
    assert templating.delete_template(unused, actor=marketer) == []
