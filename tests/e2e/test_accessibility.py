"""An accessibility pass with axe-core (vendored from npm, injected by the test: no page loads it): every
role visits every page of its sidebar and the main detail pages; any serious or critical violation fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import factories

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core-4.14.1.min.js"
ROLES = ("admin", "marketer", "manager", "rep")


def _violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.impact} ${v.id}: ${v.help} — ` +
                          v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
        }"""
    )
    return found


@pytest.fixture
def axe_page(browser, live_server):
    # The app's CSP allows scripts from files only; the test's own injected axe needs the CSP bypassed.
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1360, "height": 900}, bypass_csp=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_no_page_has_serious_or_critical_accessibility_violations(axe_page, tenant):
    page = axe_page
    lead = factories.make_lead(tenant, first_name="Ada", last_name="Lovelace")
    template = factories.make_template(tenant, "intro")
    sequence = factories.make_sequence(
        tenant,
        steps=[{"template_id": "intro"}, {"channel": "task", "instructions": "Call", "delay_hours": 24}],
    )
    details = [
        f"/leads/{lead.id}",
        f"/leads/{lead.id}/timeline",
        f"/sequences/{sequence.id}",
        f"/templates/{template.id}",
        "/templates/new",
        "/inbox/replies",
        "/settings/",
        "/settings/mailboxes/",
        "/settings/email-authentication/",
    ]
    problems: dict[str, list[str]] = {}
    for role in ROLES:
        user = factories.make_user(tenant, role)
        page.goto("/login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        sidebar = page.eval_on_selector_all(
            "nav.nav a[data-nav]", "links => links.map(a => a.getAttribute('href'))"
        )
        for url in [*sidebar, *details]:
            response = page.goto(url)
            if response.status == 403:
                continue  # not this role's page
            assert response.ok, f"{role} {url}: {response.status}"
            page.wait_for_load_state("networkidle")
            found = _violations(page)
            if found:
                problems[f"{role} {url}"] = found
        page.context.clear_cookies()
    report = "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())
    print(report)
    assert not problems, "serious or critical accessibility violations:\n" + report


def test_no_page_of_the_app_loads_axe(page, sign_in, tenant):
    user = factories.make_user(tenant, "admin")
    sign_in(user)
    scripts = page.eval_on_selector_all("script[src]", "tags => tags.map(t => t.getAttribute('src'))")
    assert scripts and not any("axe" in src for src in scripts)
    assert page.evaluate("typeof window.axe") == "undefined"
