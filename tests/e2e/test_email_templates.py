"""A marketer writes an email template: a mistake is refused with its line, the preview renders for a lead."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories


def test_write_a_template_fix_its_error_and_preview_it(page, sign_in, tenant, screenshot):
    owner = factories.make_user(tenant, "rep", name="Rob Rep")
    factories.make_lead(tenant, first_name="Ada", last_name="Lovelace", company="Initech", owner_id=owner.id)
    sign_in(factories.make_user(tenant, "marketer"))
    page.goto("/templates/")
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("Intro")
    page.get_by_label("Key").fill("intro")
    page.get_by_label("Subject").fill("Quick idea for {{ lead.company }}")
    page.get_by_label("Body").fill("Hi {{ lead.first_name }},\n\nWould a call help?\n\n{{ owner.nickname }}")
    page.get_by_role("button", name="Save template").click()
    expect(
        page.locator("#template-form").get_by_role("alert").filter(has_text="Body, line 5")
    ).to_contain_text("unknown field 'owner.nickname'")
    expect(page.get_by_label("Body")).to_have_value(
        "Hi {{ lead.first_name }},\n\nWould a call help?\n\n{{ owner.nickname }}"
    )
    assert [e for e in page.js_errors if "status of 422" not in e] == []
    page.js_errors.clear()

    page.get_by_label("Body").fill("Hi {{ lead.first_name }},\n\nWould a call help?\n\n{{ owner.name }}")
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".flash.success")).to_contain_text("Template “Intro” saved.")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Quick idea for Initech")
    expect(preview).to_contain_text("Hi Ada,")
    expect(preview).to_contain_text("Rob Rep")
    screenshot(page, "template-edit-preview")
    assert page.js_errors == []
