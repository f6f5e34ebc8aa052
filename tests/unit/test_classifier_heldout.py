"""The classifier on the held-out replies, written apart from the rules: no opt-out is missed, and what is
auto-classified positive is positive.

The held-out file (tests/data/replies_heldout.jsonl) is never read while writing the rules. The same checks
run on the development set (tests/data/replies_dev.jsonl), which the rules were tuned on, so that the
scoring itself is tested where the held-out file is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_classifier import TARGET_OPT_OUT_STOPPED_RECALL, TARGET_POSITIVE_PRECISION, report, score

DATA = Path(__file__).parent.parent / "data"


def check_no_opt_out_missed_and_positives_precise(path: Path, capsys) -> None:
    """Score ``path`` and assert the two targets, printing the figures and every miss."""
    result = score(path)
    with capsys.disabled():
        print("\n" + report(result))
    assert result.opt_out_stopped_recall == TARGET_OPT_OUT_STOPPED_RECALL, result.missed_opt_outs
    assert result.positive_precision_auto is not None
    assert result.positive_precision_auto >= TARGET_POSITIVE_PRECISION, result.wrong_positives


@pytest.mark.parametrize("name", ["replies_heldout.jsonl", "replies_heldout2.jsonl"])
def test_no_held_out_opt_out_is_missed_and_auto_positives_are_precise(name, capsys):
    check_no_opt_out_missed_and_positives_precise(DATA / name, capsys)


def test_no_development_set_opt_out_is_missed_and_auto_positives_are_precise(capsys):
    check_no_opt_out_missed_and_positives_precise(DATA / "replies_dev.jsonl", capsys)
