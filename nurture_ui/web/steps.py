"""The builder's steps through htmx: add, edit inline, delete, drag reorder, move up / down.

Every change answers with the steps panel (cards + live schedule summary); a form with errors answers
with itself, re-targeted onto the form, keeping what was typed.
"""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional

from nurture_ui import steps
from nurture_ui.extensions import db
from nurture_ui.leads import team
from nurture_ui.models import Sequence, SequenceStep
from nurture_ui.sequences import CHANNEL_LABELS, SequenceRefused, template_names
from nurture_ui.tenancy import get_or_404, parse_id
from nurture_ui.web.access import ALL_ROLES, EDITORS, allow
from nurture_ui.web.rule_forms import editor_from_form, editor_from_rule
from nurture_ui.web.sequences import builder_context
from nurture_ui.web.variant_forms import VariantRows, apply_action, rows_from_form, rows_from_step

bp = Blueprint("steps", __name__, url_prefix="/sequences")


class StepForm(FlaskForm):
    channel = SelectField("Channel", choices=list(CHANNEL_LABELS.items()))
    delay_value = IntegerField(
        "Wait",
        validators=[
            InputRequired("Enter how long to wait."),
            NumberRange(0, 8760, "Enter a whole number from 0."),
        ],
    )
    delay_unit = SelectField(
        "Unit", choices=[("days", "days"), ("hours", "hours"), ("business_days", "business days")]
    )
    template_id = SelectField("Template", choices=[], validate_choice=False)
    requires_human_approval = BooleanField("A person approves each email before it is sent")
    instructions = TextAreaField("Instructions for the owner", validators=[Optional()])
    same_thread = BooleanField("Follow up in the same thread (“Re:” the earlier email, one conversation)")
    only_if_not_replied = BooleanField("Only if the previous email was not replied to")
    only_if_no_open_task = BooleanField("Only if the lead has no open task")


def _form(sequence: Sequence, step: SequenceStep | None = None) -> StepForm:
    form = StepForm(formdata=request.form if request.method == "POST" else None)
    form.template_id.choices = [("", "— Choose a template —")] + list(
        template_names(sequence.tenant_id).items()
    )
    if step is not None and request.method != "POST":
        days, rest = divmod(step.delay_hours, 24)
        form.channel.data = step.channel
        form.delay_value.data, form.delay_unit.data = (
            (step.delay_business_days, "business_days")
            if step.delay_unit == "business_days"
            else ((days, "days") if not rest else (step.delay_hours, "hours"))
        )
        form.template_id.data = step.template_id or ""
        form.requires_human_approval.data = step.requires_human_approval
        form.instructions.data = step.instructions
        form.same_thread.data = step.same_thread
        form.only_if_not_replied.data = step.only_if_not_replied
        form.only_if_no_open_task.data = step.only_if_no_open_task
    elif step is None and request.method != "POST":
        form.delay_value.data, form.delay_unit.data = (2, "days") if sequence.steps else (0, "days")
    return form


def _panel(sequence: Sequence, error: str | None = None, moved: tuple[str, str] | None = None):
    db.session.expire(sequence, ["steps"])
    return render_template(
        "sequences/_partials/steps.html",
        panel_error=error,
        moved=moved,
        **builder_context(sequence, count_matches=False),
    )


def _step_of(sequence_id, step_id) -> tuple[Sequence, SequenceStep]:
    sequence = get_or_404(Sequence, sequence_id)
    step = get_or_404(SequenceStep, step_id)
    if step.sequence_id != sequence.id:
        abort(404)
    return sequence, step


def _render_form(sequence, form, step=None, cond_editor=None, errors=None, status=200, variants=None):
    if variants is None:
        variants = rows_from_form(request.form) if request.method == "POST" else None
    if variants is None:
        variants = rows_from_step(step) if step is not None else VariantRows()
    html = render_template(
        "sequences/_partials/step_form.html",
        sequence=sequence,
        step=step,
        form=form,
        variants=variants,
        template_choices=template_names(sequence.tenant_id),
        cond_editor=cond_editor or editor_from_rule(step.conditions if step else {}, "cond"),
        users=team(sequence.tenant_id),
        form_errors=errors or [],
    )
    response = make_response(html, status)
    if request.method == "POST" and request.htmx:
        # htmx swaps only 2xx answers: a refused form comes back as 200, re-targeted onto itself.
        response.status_code = 200
        response.headers["HX-Retarget"] = f"#step-form-{step.id if step else 'new'}"
        response.headers["HX-Reswap"] = "outerHTML"
    return response


def _save(sequence: Sequence, step: SequenceStep | None):
    form = _form(sequence, step)
    cond_editor = editor_from_form(request.form, "cond")
    variants = rows_from_form(request.form)
    action = request.form.get("variant_action")
    if action:  # a variant row added or removed: the form comes back changed, nothing is saved
        if action == "stop" and variants.rows:  # back to one template: variant A's
            form.template_id.data = variants.rows[0].template_id
        changed = apply_action(variants, action, form.template_id.data or "")
        return _render_form(sequence, form, step, cond_editor, variants=changed)
    conditions = cond_editor.check()
    if not form.validate_on_submit() or conditions is None or variants.errors:
        return _render_form(sequence, form, step, cond_editor, status=422, variants=variants)
    business = form.delay_unit.data == "business_days"
    hours = 0 if business else form.delay_value.data * (24 if form.delay_unit.data == "days" else 1)
    data = steps.StepInput(
        channel=form.channel.data,
        delay_hours=hours,
        delay_unit="business_days" if business else "hours",
        delay_business_days=form.delay_value.data if business else 0,
        template_id=form.template_id.data or None,
        requires_human_approval=form.requires_human_approval.data,
        conditions=conditions,
        instructions=form.instructions.data or "",
        same_thread=form.same_thread.data,
        only_if_not_replied=form.only_if_not_replied.data,
        only_if_no_open_task=form.only_if_no_open_task.data,
        variants=variants.rows,
        auto_winner_min_sends=variants.auto_winner_min_sends,
    )
    if variants.rows:
        data.template_id = variants.rows[0].template_id or None
    errors = steps.step_errors(sequence.tenant_id, data, earlier_steps=steps.steps_before(sequence, step))
    if errors:
        for name, messages in errors.items():
            target = {"delay_hours": "delay_value"}.get(name, name)
            if name.startswith("variant") or name == "auto_winner_min_sends":
                variants.errors[name] = list(messages)
            elif hasattr(form, target):
                getattr(form, target).errors = list(messages)
            else:
                cond_editor.errors += messages
        return _render_form(sequence, form, step, cond_editor, status=422, variants=variants)
    try:
        if step is None:
            steps.add_step(sequence, data, actor=current_user)
        else:
            steps.update_step(step, data, actor=current_user)
    except SequenceRefused as refused:
        db.session.rollback()
        return _render_form(sequence, form, step, cond_editor, errors=refused.messages, status=409)
    if not request.htmx:
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    return _panel(sequence)


@bp.route("/<sequence_id>/steps/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    if request.method == "POST":
        return _save(sequence, None)
    return _render_form(sequence, _form(sequence))


@bp.route("/<sequence_id>/steps/<step_id>", methods=["GET"])
@allow(*ALL_ROLES)
def card(sequence_id, step_id):
    sequence, step = _step_of(sequence_id, step_id)
    context = builder_context(sequence, count_matches=False)
    return render_template("sequences/_partials/step_card.html", step=step, **context)


@bp.route("/<sequence_id>/steps/<step_id>/edit", methods=["GET", "POST"])
@allow(*EDITORS)
def edit(sequence_id, step_id):
    sequence, step = _step_of(sequence_id, step_id)
    if request.method == "POST":
        return _save(sequence, step)
    return _render_form(sequence, _form(sequence, step), step)


def _change(sequence: Sequence, action, moved: tuple[str, str] | None = None):
    try:
        action()
    except SequenceRefused as refused:
        db.session.rollback()
        if not request.htmx:
            return redirect(url_for("sequences.builder", sequence_id=sequence.id))
        return _panel(sequence, error=" ".join(refused.messages))
    if not request.htmx:
        return redirect(url_for("sequences.builder", sequence_id=sequence.id))
    return _panel(sequence, moved=moved)


@bp.route("/<sequence_id>/steps/<step_id>/delete", methods=["POST"])
@allow(*EDITORS)
def delete(sequence_id, step_id):
    sequence, step = _step_of(sequence_id, step_id)
    return _change(sequence, lambda: steps.delete_step(step, actor=current_user))


@bp.route("/<sequence_id>/steps/<step_id>/move", methods=["POST"])
@allow(*EDITORS)
def move(sequence_id, step_id):
    sequence, step = _step_of(sequence_id, step_id)
    direction = "up" if request.form.get("direction") == "up" else "down"
    offset = -1 if direction == "up" else 1
    # The moved step's button keeps the keyboard focus, so pressing Enter again moves it further.
    return _change(
        sequence, lambda: steps.move_step(step, offset, actor=current_user), moved=(str(step.id), direction)
    )


@bp.route("/<sequence_id>/steps/reorder", methods=["POST"])
@allow(*EDITORS)
def reorder(sequence_id):
    sequence = get_or_404(Sequence, sequence_id)
    ids = [parse_id(value) for value in request.form.get("order", "").split(",") if value]
    return _change(sequence, lambda: steps.reorder_steps(sequence, [i for i in ids if i], actor=current_user))
