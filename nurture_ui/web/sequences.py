"""Sequences: the list, the builder page, status changes and the rule editors.

Step editing has its own blueprint (``web/steps.py``); both only parse input, call the core
(``nurture_ui.sequences``, ``nurture_ui.steps``) and render.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from nurture_ui import clock, email_previews, rules, sequences, simulation
from nurture_ui.activation_preview import FLOW_DAYS, activation_preview
from nurture_ui.addresses import normalize_email
from nurture_ui.charts import column_chart
from nurture_ui.eligibility import Breakdown, eligibility_breakdown
from nurture_ui.extensions import db
from nurture_ui.leads import lead_by_email, team
from nurture_ui.models import DEFAULT_EXIT_RULES, SEQUENCE_STATUSES, Sequence, Tenant
from nurture_ui.sequence_window import send_window_line
from nurture_ui.sequences import SequenceRefused
from nurture_ui.tenancy import current_tenant_id, get_or_404
from nurture_ui.web.access import ALL_ROLES, EDITORS, allow
from nurture_ui.web.rule_forms import apply_action, editor_from_form, editor_from_rule, operators_for
from nurture_ui.web.sequence_window import SendWindowForm

bp = Blueprint("sequences", __name__, url_prefix="/sequences")


class SequenceForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired("Enter a name."), Length(max=255, message="Use at most 255 characters.")],
    )
    description = TextAreaField(
        "Description", validators=[Length(max=2000, message="Use at most 2,000 characters.")]
    )


class WholeNumberField(IntegerField):
    """An IntegerField whose complaint about "abc" or "1.5" tells a person what to type instead."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError("Enter a whole number, like 10.") from error


class SequenceDetailsForm(SequenceForm):
    """The builder's details: name and description, plus how auto-enrollment treats the sequence.

    The ranges are the core's (``sequences.details_problems``); the form only parses.
    """

    priority = WholeNumberField(
        "Priority (lower number wins when a lead fits several sequences)",
        validators=[InputRequired("Enter a priority, like 100.")],
    )
    daily_enrollment_cap = WholeNumberField("Daily enrollment cap", validators=[Optional()])

    @classmethod
    def for_sequence(cls, sequence: Sequence) -> SequenceDetailsForm:
        """The form filled from the saved sequence, whatever another form this request posted."""
        return cls(formdata=None, obj=sequence)


def can_edit() -> bool:
    return current_user.role in EDITORS


@bp.app_context_processor
def builder_helpers():
    return {
        "format_days": sequences.format_days,
        "rule_fields": rules.FIELDS,
        "rule_operator_labels": rules.OPERATOR_LABELS,
        "rule_operators_for": operators_for,
        "rule_reply_field": rules.REPLY_KEY,
    }


@bp.route("/")
@allow(*ALL_ROLES)
def index():
    status = request.args.get("status", "")
    status = status if status in SEQUENCE_STATUSES else ""
    rows = sequences.sequence_overview(current_tenant_id(), status)
    context = dict(
        rows=rows, status=status, statuses=SEQUENCE_STATUSES, form=SequenceForm(), can_edit=can_edit()
    )
    if request.htmx and request.headers.get("HX-Target") == "sequence-rows":
        return render_template("sequences/_partials/rows.html", **context)
    return render_template("sequences/index.html", **context)


@bp.route("/new", methods=["POST"])
@allow(*EDITORS)
def create():
    form = SequenceForm()
    if form.validate_on_submit():
        sequence = sequences.create_sequence(
            current_tenant_id(), form.name.data, description=form.description.data or "", actor=current_user
        )
        flash("Sequence created. Add its first step below.", "success")
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    rows = sequences.sequence_overview(current_tenant_id())
    return (
        render_template(
            "sequences/index.html",
            rows=rows,
            status="",
            statuses=SEQUENCE_STATUSES,
            form=form,
            can_edit=True,
            show_new=True,
        ),
        422,
    )


@bp.route("/<sequence_id>/duplicate", methods=["POST"])
@allow(*EDITORS)
def duplicate(sequence_id):
    original = get_or_404(Sequence, sequence_id)
    copy = sequences.duplicate_sequence(original, actor=current_user)
    flash(f"Duplicated “{original.name}” as a draft.", "success")
    return redirect(url_for("sequences.builder", sequence_id=copy.id))


def builder_context(sequence: Sequence, *, count_matches: bool = True, **extra) -> dict:
    """Everything the builder page and its fragments render; ``count_matches`` runs the entry-rule count."""
    names = sequences.template_names(sequence.tenant_id)
    users = team(sequence.tenant_id)
    editable = can_edit() and sequences.is_editable(sequence)
    sample, sample_is_real = email_previews.sample_lead(sequence.tenant_id)
    tenant = db.session.get(Tenant, sequence.tenant_id)
    return dict(
        send_window_line=send_window_line(tenant, sequence),
        window_form=extra.pop("window_form", None)
        or SendWindowForm.for_sequence(sequence, tenant.policy_value("send_window")),
        step_previews=email_previews.preview_steps(list(sequence.steps), sample),
        preview_lead=sample,
        preview_lead_is_real=sample_is_real,
        sequence=sequence,
        steps=list(sequence.steps),
        template_names=names,
        summary=sequences.schedule_summary(list(sequence.steps), names),
        describe_delay=sequences.describe_delay,
        channel_labels=sequences.CHANNEL_LABELS,
        users=users,
        owner_names={str(u.id): u.name for u in users},
        can_edit=can_edit(),
        editable=editable,
        entry_editor=extra.pop("entry_editor", None) or editor_from_rule(sequence.entry_rules, "entry"),
        breakdown=extra.pop("breakdown")
        if "breakdown" in extra
        else (rule_breakdown(sequence) if count_matches else None),
        exit_errors=extra.pop("exit_errors", []),
        exit_switches=rules.EXIT_SWITCHES,
        # A sequence saved before a switch existed follows that switch's default (the engine does too).
        exit_defaults=DEFAULT_EXIT_RULES,
        describe_rule=rules.describe,
        **extra,
    )


def rule_breakdown(sequence: Sequence | None, rule: dict | None = None) -> Breakdown | None:
    """The eligibility breakdown for the saved rule, or for ``rule`` while it is edited; None when the
    rule does not validate (or there is no sequence to count for)."""
    if sequence is None:
        return None
    if rules.validate(rule if rule is not None else (sequence.entry_rules or {})):
        return None
    return eligibility_breakdown(sequence, now=clock.now(), entry_rule=rule)


@bp.route("/<sequence_id>")
@allow(*ALL_ROLES)
def builder(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    # The entry rule's count comes in its own request once the page is shown (``eligibility``): on a large
    # tenant it is the page's one costly query, and the builder is opened far more often than it is read.
    return render_template(
        "sequences/builder.html",
        form=SequenceDetailsForm.for_sequence(sequence),
        breakdown_url=url_for("sequences.eligibility", sequence_id=sequence.id),
        **builder_context(sequence, count_matches=False),
    )


@bp.route("/<sequence_id>/eligibility")
@allow(*ALL_ROLES)
def eligibility(sequence_id):
    """The builder's count of who the saved entry rule matches and who of them can join now."""
    sequence = get_or_404(Sequence, sequence_id)
    return render_template(
        "sequences/_partials/breakdown.html", breakdown=rule_breakdown(sequence), sequence=sequence
    )


@bp.route("/<sequence_id>/why")
@allow(*ALL_ROLES)
def why(sequence_id):
    """From the sequence side to the "why (not)?" panel: which checks this lead passes for it."""
    sequence = get_or_404(Sequence, sequence_id)
    email = request.args.get("email", "")
    try:
        # As the leads table stores it (international addresses included), so "Müller" finds "müller".
        wanted = normalize_email(email)
    except ValueError:
        wanted = email
    lead = lead_by_email(sequence.tenant_id, wanted)
    if lead is None:
        flash(
            f"No lead has the address “{email.strip()}”." if email.strip() else "Enter a lead's email.",
            "error",
        )
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    return redirect(url_for("enrollments.verdict", lead_id=lead.id, sequence_id=sequence.id))


@bp.route("/<sequence_id>/details", methods=["POST"])
@allow(*EDITORS)
def details(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    form = SequenceDetailsForm()
    if form.validate_on_submit():
        name, description = form.name.data, form.description.data or ""
        priority, cap = form.priority.data, form.daily_enrollment_cap.data
        problems = sequences.details_problems(name, priority, cap)
        for field_name, message in problems.items():
            getattr(form, field_name).errors = [message]
        if not problems:
            try:
                sequences.update_details(
                    sequence,
                    name,
                    description,
                    priority=priority,
                    daily_enrollment_cap=cap,
                    actor=current_user,
                )
            except SequenceRefused as refused:
                form.name.errors = list(refused.messages)
            else:
                flash("Saved.", "success")
                return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    db.session.rollback()
    return render_template(
        "sequences/builder.html", form=form, show_details=True, **builder_context(sequence)
    ), 422


@bp.route("/<sequence_id>/activate")
@allow(*EDITORS)
def activate_preview(sequence_id):
    """The confirmation Activate (and Resume) opens: who joins now, how many a day, when they first hear
    from it. Confirming posts to ``change_status``; nothing changes until then."""
    sequence = get_or_404(Sequence, sequence_id)
    if sequence.status not in ("draft", "paused"):
        flash(f"This sequence is {sequence.status}: there is nothing to activate.", "info")
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    tenant = db.session.get(Tenant, sequence.tenant_id)
    return render_template(
        "sequences/activate.html",
        preview=activation_preview(sequence, now=clock.now()),
        problems=sequences.activation_problems(sequence, tenant),
        flow_days=FLOW_DAYS,
    )


@bp.route("/<sequence_id>/simulate")
@allow(*ALL_ROLES)
def simulate(sequence_id):
    """The dry run: emails per day for the next weeks if the leads who can join now joined. Writes nothing."""
    sequence = get_or_404(Sequence, sequence_id)
    result = simulation.simulate(sequence, now=clock.now())
    chart = column_chart(
        [(day.strftime("%-d %b"), n) for day, n in result.days],
        title=f"Emails per day over the next {simulation.DAYS} days",
    )
    window_line = send_window_line(db.session.get(Tenant, sequence.tenant_id), sequence)
    return render_template(
        "sequences/simulate.html", sequence=sequence, result=result, chart=chart, window_line=window_line
    )


@bp.route("/<sequence_id>/status", methods=["POST"])
@allow(*EDITORS)
def change_status(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    target = request.form.get("status", "")
    try:
        sequences.change_status(sequence, target, actor=current_user)
    except SequenceRefused as refused:
        db.session.rollback()
        context = builder_context(sequence, status_problems=refused.messages, attempted=target)
        return render_template(
            "sequences/builder.html", form=SequenceDetailsForm.for_sequence(sequence), **context
        ), 422
    messages = {
        "active": "Sequence activated: the leads that can join are enrolled at the next auto-enrollment run.",
        "paused": "Sequence paused: its enrollments hold where they are. You can edit it now.",
        "archived": "Sequence archived: its live enrollments have exited.",
    }
    flash(messages.get(target, "Status changed."), "success")
    return redirect(url_for("sequences.builder", sequence_id=sequence.id))


# ---------------------------------------------------------------------------------------------------
# Rule editors


@bp.route("/rule-editor", methods=["POST"])
@allow(*EDITORS)
def rule_editor():
    """Re-render a rule editor after an editing action (add row, change field, switch view)."""
    prefix = request.form.get("prefix", "entry")
    prefix = prefix if prefix in ("entry", "cond") else "entry"
    editor = editor_from_form(request.form, prefix)
    action = request.form.get("action", "")
    apply_action(editor, action)
    breakdown = None
    sequence_id = request.form.get("sequence_id", "")
    sequence = get_or_404(Sequence, sequence_id) if prefix == "entry" and sequence_id else None
    if prefix == "entry":
        rule = editor.check()
        if rule is not None:
            breakdown = rule_breakdown(sequence, rule)
        if action == "count":
            # Typing in a value refreshes only the count, so the field being typed in keeps its focus.
            return render_template(
                "sequences/_partials/breakdown.html", breakdown=breakdown, sequence=sequence
            )
    elif action == "count":
        return ""
    users = team(current_tenant_id())
    return render_template(
        "sequences/_partials/rule_editor.html",
        editor=editor,
        users=users,
        breakdown=breakdown,
        sequence=sequence,
        live_count=prefix == "entry",
    )


@bp.route("/<sequence_id>/entry-rules", methods=["POST"])
@allow(*EDITORS)
def entry_rules(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    editor = editor_from_form(request.form, "entry")
    rule = editor.check()
    saved = False
    if rule is not None:
        try:
            errors = sequences.update_entry_rules(sequence, rule, actor=current_user)
        except SequenceRefused as refused:
            errors = refused.messages
        editor.errors += errors
        saved = not errors
    breakdown = rule_breakdown(sequence, rule) if rule is not None else None
    if request.htmx:
        return render_template(
            "sequences/_partials/entry_rules.html",
            entry_editor=editor,
            users=team(sequence.tenant_id),
            breakdown=breakdown,
            saved=saved,
            **_slim_context(sequence),
        )
    flash(
        "Entry rules saved." if saved else "The entry rules were not saved: see the errors.",
        "success" if saved else "error",
    )
    if saved:
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    return render_template(
        "sequences/builder.html",
        form=SequenceDetailsForm.for_sequence(sequence),
        **builder_context(sequence, entry_editor=editor),
    ), 422


@bp.route("/<sequence_id>/exit-rules", methods=["POST"])
@allow(*EDITORS)
def exit_rules(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    switches = {key: request.form.get(key) == "on" for key in rules.EXIT_SWITCHES}
    inactivity = request.form.get("inactivity_days", "").strip()
    typed = dict(switches, inactivity_days=inactivity)
    if request.form.get("inactivity_on") != "on" or not inactivity:
        switches["inactivity_days"] = None
    else:
        switches["inactivity_days"] = int(inactivity) if inactivity.isdigit() else inactivity
    try:
        errors = sequences.update_exit_rules(sequence, switches, actor=current_user)
    except SequenceRefused as refused:
        errors = refused.messages
    if errors:
        db.session.rollback()
        errors = [e.replace("Exit rule 'inactivity_days': a", "Inactivity: enter a") for e in errors]
    context = _slim_context(sequence)
    template = "sequences/_partials/exit_rules.html"
    if request.htmx:
        return render_template(
            template, exit_errors=errors, typed=typed if errors else None, saved=not errors, **context
        )
    if errors:
        return render_template(
            "sequences/builder.html",
            form=SequenceDetailsForm.for_sequence(sequence),
            **builder_context(sequence, exit_errors=errors, typed=typed),
        ), 422
    flash("Exit rules saved.", "success")
    return redirect(url_for("sequences.builder", sequence_id=sequence.id))


def _slim_context(sequence: Sequence) -> dict:
    return dict(
        sequence=sequence,
        editable=can_edit() and sequences.is_editable(sequence),
        can_edit=can_edit(),
        exit_switches=rules.EXIT_SWITCHES,
        # A sequence saved before a switch existed follows that switch's default (the engine does too).
        exit_defaults=DEFAULT_EXIT_RULES,
        describe_rule=rules.describe,
        owner_names={str(u.id): u.name for u in team(sequence.tenant_id)},
    )
