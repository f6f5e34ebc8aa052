"""Browser: an admin opens Settings › Email authentication, generates a DKIM key and copies the DNS record to
publish; a bad pasted key is explained; on a phone the record still fits the screen."""

from __future__ import annotations

from playwright.sync_api import expect

from nurture_ui.extensions import db
from nurture_ui.mail.dkim_keys import public_key_base64
from nurture_ui.secret_box import open_sealed
from tests import factories


def test_an_admin_generates_a_dkim_key_and_sees_the_dns_record(page, sign_in, screenshot, tenant):
    sign_in(factories.make_user(tenant, "admin", name="Ada Admin"))
    page.goto("/settings/")
    page.get_by_role("link", name="Email authentication (DKIM)").click()
    expect(page.get_by_text("No key yet: emails go out unsigned.")).to_be_visible()
    page.get_by_label("Signing domain").fill("acme.example")
    page.get_by_label("Selector").fill("nurture1")
    page.get_by_role("button", name="Generate a key").click()
    expect(page.get_by_text("A new key was made. Publish the DNS record below.")).to_be_visible()
    expect(page.locator("#dkim-name")).to_have_text("nurture1._domainkey.acme.example")

    db.session.refresh(tenant)
    public = public_key_base64(open_sealed(tenant.dkim_private_key))
    expect(page.locator("#dkim-value")).to_have_text(f"v=DKIM1; k=rsa; p={public}")
    expect(page.locator("#dkim-zone")).to_contain_text('nurture1._domainkey.acme.example. IN TXT ( "v=DKIM1;')
    expect(page.get_by_label("Private key (PEM)", exact=False)).to_have_value("")

    page.set_viewport_size({"width": 1440, "height": 900})
    screenshot(page, "settings-dkim-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    value_box = page.locator("#dkim-value").bounding_box()
    assert value_box["x"] + value_box["width"] <= 390, "the record overflows a phone's screen"
    screenshot(page, "settings-dkim-390")
    page.set_viewport_size({"width": 1440, "height": 900})

    page.get_by_text("Or paste a private key you already publish").click()
    page.get_by_label("Private key (PEM)").fill(
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    )
    page.get_by_role("button", name="Save", exact=True).click()
    expect(
        page.get_by_role("alert").filter(has_text="This is not a readable PEM private key.")
    ).to_be_visible()
    # The key in use is untouched, and its record still shown.
    expect(page.locator("#dkim-value")).to_have_text(f"v=DKIM1; k=rsa; p={public}")
    # The refused form answers 422, which the browser logs; nothing else went wrong on the page.
    assert [e for e in page.js_errors if "status of 422" not in e] == []
