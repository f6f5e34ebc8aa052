"""The execution engine: claim due enrollments, execute their steps, time them (DESIGN.md §5 and §7).

- ``dispatcher``: ``claim_due_enrollments`` and the scheduler tick ``dispatch_due``
- ``executor``: ``execute_batch`` / ``execute_step``, the per-enrollment decision
- ``schedule``: send windows in the lead's zone, ``schedule_first_step``
- ``stops``: ``exit_reason``, the one stop decision ``may_mail`` (``send_refusal``, ``send_hold``) and
  ``step_conditions_hold`` (the seam to ``nurture_ui.rules``)
- ``presend``: ``plan_group``, the stop decision for a group of emails right before SMTP, and sending as the
  lead's owner (mailbox, spacing, daily limit)
- ``content``: ``render_step_email`` (the seam to ``nurture_ui.templating``)
- ``transitions``: exit, pause, advance, and the resumes a person triggers (``approve_message``, ``complete_task``)
- ``replay``: ``run_due``, dispatch and execution at a given instant, synchronously
"""
