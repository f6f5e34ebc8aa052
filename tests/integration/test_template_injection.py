"""Email templates are typed by people: sandbox escapes and resource bombs are refused, on save and at send."""

from __future__ import annotations

import time

import pytest

from nurture_ui import templating
from nurture_ui.models import EmailTemplate
from tests import factories

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__class__ }}",
    "{{ lead.first_name.__class__.__base__ }}",
    "{{ lead|attr('__class__') }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config.SECRET_KEY }}",
    "{{ request.environ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ lead.first_name.format.__globals__ }}",
    "{{ '{0.__class__}'.format(lead) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'base.html' as b %}",
    "{% extends 'base.html' %}",
    "{{ range(10) }}",
]
BOMBS = [
    "{{ 9 ** 9 ** 9 }}",
    "{{ 'a' * 1000000000 }}",
    "{{ lead.first_name * 1000000000 }}",
    "{{ lead.first_name|center(1000000000) }}",
    "{{ lead.first_name|indent(1000000000) }}",
    "{{ '%999999999d'|format(1) }}",
    "{{ lead.first_name.ljust(1000000000) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for a in lead.first_name %}{% for b in lead.first_name %}{{ a }}{% endfor %}{% endfor %}",
    "{% set a = lead.first_name %}{% set b = a ~ a %}{{ b }}",
    "{% for c in lead.email %}{% set x = c %}{% endfor %}",
    "{{ lead.first_name" + "|replace('', lead.email)" * 6 + " }}",
    "{{ lead.first_name|urlencode|urlencode|urlencode }}",
    "{% with a = lead.email %}{% with b = a ~ a %}{{ b }}{% endwith %}{% endwith %}",
    "{% set a %}{{ lead.email }}{% endset %}{% set b %}{{ a }}{{ a }}{% endset %}",
    # ~ and + build no string beyond the cap, even from parts that are each small
    "{% set a = lead.email" + " ~ lead.email" * 600 + " %}{{ (a" + " ~ a" * 600 + ")|length }}",
    "{% set a = lead.email" + " ~ lead.email" * 600 + " %}{{ (a" + " + a" * 600 + ")|length }}",
    "{{ 1 / 0 }}",
    "{{ lead.first_name + 1 }}",
]


@pytest.mark.parametrize("source", ESCAPES + BOMBS)
def test_hostile_template_is_refused_on_save_with_a_message(tenant, source):
    user = factories.make_user(tenant, "marketer")
    started = time.monotonic()
    data = templating.TemplateInput(key="evil", name="Evil", subject="Hi", body=source)
    template, errors = templating.save_template(tenant.id, data, actor=user)
    assert template is None and errors.get("body"), source
    assert all(isinstance(m, str) and m.startswith("Body") for m in errors["body"])
    assert time.monotonic() - started < 2, "refusing must not first do the expensive work"


@pytest.mark.parametrize("source", ESCAPES + BOMBS)
def test_hostile_template_stored_anyway_does_not_render(tenant, source):
    """A row written around the form (an old template, a direct import) is refused again at send time."""
    lead = factories.make_lead(tenant, first_name="Ann")
    template = EmailTemplate(tenant_id=tenant.id, key="raw", name="Raw", subject="Hi", body=source)
    with pytest.raises(templating.TemplateProblem):
        templating.render_email(template, lead, None)


def test_output_is_capped_even_when_each_piece_is_small(tenant):
    lead = factories.make_lead(tenant, first_name="A" * 100)
    body = "{% for c in lead.email %}" + "{{ lead.first_name }}" * 900 + "{% endfor %}"
    assert len(body) < templating.MAX_BODY
    with pytest.raises(templating.TemplateProblem, match="larger than"):
        templating.render_email(EmailTemplate(subject="Hi", body=body), lead, None)


def test_ordinary_templates_still_work(tenant):
    lead = factories.make_lead(tenant, first_name="ann", last_name="Lee", company="Acme")
    body = (
        "{% set full = lead.first_name|title ~ ' ' ~ lead.last_name %}Hi {{ full }},\n"
        "{% for word in ['one', 'two'] %}{{ word|upper }} {% endfor %}"
        "{{ lead.company|default('your team')|replace('Acme', 'ACME') }} {{ lead.score + 1 }} "
        "{{ lead.title|default('there', true) }} {{ [lead.first_name, lead.last_name]|join(' ') }}"
    )
    assert templating.check_source(body, "Body") == []
    subject, rendered = templating.render_email(
        EmailTemplate(subject="Hi {{ lead.first_name }}", body=body), lead, None
    )
    assert subject == "Hi ann"
    assert rendered.startswith("Hi Ann Lee,\nONE TWO ACME 51 there ann Lee")


def test_preview_of_a_hostile_template_answers_with_the_problem(login_as, tenant):
    client = login_as("marketer")
    lead = factories.make_lead(tenant)
    for source in ("{{ lead.__class__ }}", "{{ 9 ** 9 ** 9 }}", "{{ 1 / 0 }}"):
        response = client.post(
            "/templates/preview", {"lead_id": str(lead.id), "subject": "Hi", "body": source}
        )
        assert response.status_code == 200
        assert "Body" in response.get_data(as_text=True)
