"""Script in a lead's name, a template or a reply is shown as text: nothing runs, no element is injected.

The CSP would block an inline script anyway; these checks look at the DOM, so they fail on a missing escape
even where the CSP would have saved us.
"""

from __future__ import annotations

from tests import factories

PAYLOAD = '<script>window.__xss=1</script><img src=x class=xss-probe onerror="window.__xss=2">'


def _assert_inert(page, where: str) -> None:
    assert page.evaluate("window.__xss === undefined"), f"a script ran on {where}"
    assert page.locator("img.xss-probe, script:not([src])").count() == 0, f"markup was injected on {where}"


def test_hostile_names_templates_and_replies_render_as_text(page, sign_in, tenant, screenshot, clock):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    marketer = factories.make_user(tenant, "marketer", name=f"Mal {PAYLOAD}")
    lead = factories.make_lead(tenant, first_name=PAYLOAD, last_name="Lee", company=PAYLOAD, segment="SMB")
    factories.make_reply(lead, body_excerpt=f"Thanks! {PAYLOAD}", subject=PAYLOAD[:200])
    template = factories.make_template(
        tenant, key="xss", name=f"Tpl {PAYLOAD}", subject="Hi {{ lead.first_name }}", body=f"Body {PAYLOAD}"
    )
    sequence = factories.make_sequence(
        tenant, name=f"Seq {PAYLOAD}", status="active", steps=[{"channel": "email", "template_id": "xss"}]
    )
    enrollment = factories.make_enrollment(lead, sequence)
    sign_in(marketer)

    for path in ("/", "/leads/", f"/leads/{lead.id}", "/sequences/", f"/sequences/{sequence.id}",
                 "/templates/", f"/templates/{template.id}", f"/enrollments/{enrollment.id}"):  # fmt: skip
        page.goto(path)
        _assert_inert(page, path)
        assert "<script>window.__xss=1</script>" in page.locator("body").inner_text(), path

    # The live preview renders the template for the lead through htmx: still text.
    page.goto(f"/templates/{template.id}")
    page.get_by_label("Render for").select_option(str(lead.id))
    page.wait_for_selector("#preview :text('Body')")
    _assert_inert(page, "the template preview")
    assert PAYLOAD in page.locator("#preview").inner_text()
    screenshot(page, "xss-template-preview")

    page.goto(f"/leads/{lead.id}")
    assert PAYLOAD in page.locator("body").inner_text()  # the name and the reply, as typed
    screenshot(page, "xss-lead-page")
    assert dialogs == [] and page.js_errors == []
