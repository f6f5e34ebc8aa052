"""The reply classifier scored on a labelled set of replies: per-class precision and recall, the confusion
matrix, how many replies went to a person, and the two figures that matter most.

    .venv/bin/python -m bench.bench_classifier [--data tests/data/replies_heldout.jsonl] [--json FILE]
    .venv/bin/python -m bench.bench_classifier --data A.jsonl --data B.jsonl --into-report BENCHMARKS.md

``--into-report`` writes the figures of every ``--data`` set as the report's "Reply classifier" section
(replacing the one there): the classifier's figures do not depend on the machine or its load, so they can be
brought up to date without running the timed benchmarks again. ``make bench`` puts the same figures in its
table.

- **Opt-out stopped recall**: of the replies labelled ``unsubscribe``, the share whose mail stops — classified
  ``unsubscribe``, or sent to a person (``needs_person``: the lead's sequences wait for the decision).
- **Strict opt-out recall**: of those, the share classified ``unsubscribe`` with no person needed.
- **Positive precision**: of the replies auto-classified ``positive`` (no person), the share labelled positive.

Per-class precision and recall count the best-guess sentiment of every reply, person or not. Each line of
the data is a JSON object with ``text``, ``label`` (one of ``SENTIMENTS``) and ``received`` (ISO date). No
database is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from nurture_ui.classifier import SENTIMENTS, classify

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "tests" / "data" / "replies_heldout.jsonl"
TARGET_OPT_OUT_STOPPED_RECALL = 1.0
TARGET_POSITIVE_PRECISION = 0.95


@dataclass
class Score:
    """The classifier's figures on one labelled set (see the module docstring)."""

    data: str
    replies: int
    precision: dict[str, float | None]
    recall: dict[str, float | None]
    # confusion[label][verdict]: how many replies with this label got this best-guess sentiment.
    confusion: dict[str, dict[str, int]]
    to_person: int
    to_person_by_label: dict[str, int]
    opt_out_stopped_recall: float | None
    opt_out_strict_recall: float | None
    positive_precision_auto: float | None
    auto_positives: int
    missed_opt_outs: list[str] = field(default_factory=list)
    wrong_positives: list[str] = field(default_factory=list)

    @property
    def targets_met(self) -> bool:
        stopped = self.opt_out_stopped_recall
        positive = self.positive_precision_auto
        return (stopped is None or stopped >= TARGET_OPT_OUT_STOPPED_RECALL) and (
            positive is None or positive >= TARGET_POSITIVE_PRECISION
        )


def load_replies(path: Path) -> list[dict]:
    """The labelled replies in ``path`` (JSON lines), with a clear error for a bad line."""
    replies = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            reply = json.loads(line)
            date.fromisoformat(reply["received"])
            reply["text"], reply["label"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a labelled reply ({error})") from error
        if reply["label"] not in SENTIMENTS:
            raise ValueError(
                f"{path}:{number}: label {reply['label']!r} is not one of {', '.join(SENTIMENTS)}"
            )
        replies.append(reply)
    return replies


def score(path: Path) -> Score:
    """Classify every reply in ``path`` and measure the verdicts against the labels."""
    replies = load_replies(path)
    confusion = {label: dict.fromkeys(SENTIMENTS, 0) for label in SENTIMENTS}
    to_person_by_label = dict.fromkeys(SENTIMENTS, 0)
    stopped = strict = opt_outs = auto_positives = right_positives = 0
    missed, wrong_positives = [], []
    for reply in replies:
        verdict = classify(reply["text"], date.fromisoformat(reply["received"]))
        label = reply["label"]
        confusion[label][verdict.sentiment] += 1
        to_person_by_label[label] += verdict.needs_person
        if label == "unsubscribe":
            opt_outs += 1
            strict += verdict.sentiment == "unsubscribe" and not verdict.needs_person
            if verdict.sentiment == "unsubscribe" or verdict.needs_person:
                stopped += 1
            else:
                missed.append(f"read as {verdict.sentiment}: {reply['text'][:90]!r}")
        if verdict.sentiment == "positive" and not verdict.needs_person:
            auto_positives += 1
            if label == "positive":
                right_positives += 1
            else:
                wrong_positives.append(f"{label} read as positive ({verdict.reason}): {reply['text'][:90]!r}")
    precision, recall = {}, {}
    for sentiment in SENTIMENTS:
        predicted = sum(confusion[label][sentiment] for label in SENTIMENTS)
        actual = sum(confusion[sentiment].values())
        precision[sentiment] = confusion[sentiment][sentiment] / predicted if predicted else None
        recall[sentiment] = confusion[sentiment][sentiment] / actual if actual else None
    return Score(
        data=str(path),
        replies=len(replies),
        precision=precision,
        recall=recall,
        confusion=confusion,
        to_person=sum(to_person_by_label.values()),
        to_person_by_label=to_person_by_label,
        opt_out_stopped_recall=stopped / opt_outs if opt_outs else None,
        opt_out_strict_recall=strict / opt_outs if opt_outs else None,
        positive_precision_auto=right_positives / auto_positives if auto_positives else None,
        auto_positives=auto_positives,
        missed_opt_outs=missed,
        wrong_positives=wrong_positives,
    )


def report(result: Score) -> str:
    """The figures as text: per class, the confusion matrix, the replies sent to a person, the misses."""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    lines = [f"{result.data}: {result.replies} replies", "", f"{'class':<14} {'precision':>9} {'recall':>8}"]
    lines += [f"{s:<14} {pct(result.precision[s]):>9} {pct(result.recall[s]):>8}" for s in SENTIMENTS]
    lines += [
        "",
        "confusion (rows: label, columns: verdict)",
        " " * 14 + "".join(f"{s[:9]:>10}" for s in SENTIMENTS),
    ]
    lines += [
        f"{label:<14}" + "".join(f"{result.confusion[label][s]:>10}" for s in SENTIMENTS)
        for label in SENTIMENTS
    ]
    by_label = ", ".join(f"{label} {n}" for label, n in result.to_person_by_label.items())
    lines += [
        "",
        f"sent to a person: {result.to_person} ({by_label})",
        f"opt-out stopped recall (unsubscribe or person): {pct(result.opt_out_stopped_recall)}"
        f"  target {TARGET_OPT_OUT_STOPPED_RECALL:.0%}",
        f"opt-out strict recall (unsubscribe): {pct(result.opt_out_strict_recall)}",
        f"positive precision (auto-classified, {result.auto_positives}): {pct(result.positive_precision_auto)}"
        f"  target ≥ {TARGET_POSITIVE_PRECISION:.0%}",
    ]
    if result.missed_opt_outs:
        lines += ["", "opt-outs that would keep being mailed:", *[f"  {m}" for m in result.missed_opt_outs]]
    if result.wrong_positives:
        lines += ["", "auto-classified positives that are not:", *[f"  {m}" for m in result.wrong_positives]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help=f"labelled replies; repeat for several sets (default {DEFAULT_DATA})",
    )
    parser.add_argument("--json", type=Path, help="write the figures here (of the first --data set)")
    parser.add_argument(
        "--into-report", type=Path, help="write the figures as this report's classifier section"
    )
    args = parser.parse_args(argv)
    paths = args.data or [DEFAULT_DATA]
    for path in paths:
        if not path.exists():
            parser.error(f"no labelled replies at {path}")
    results = [score(path) for path in paths]
    for result in results:
        print(report(result) + "\n")
    if args.json:
        args.json.write_text(json.dumps(asdict(results[0]), indent=2))
    if args.into_report:
        command = "python -m bench.bench_classifier " + " ".join(f"--data {_shown(p)}" for p in paths)
        write_section(args.into_report, markdown_section(results, command))
    return 0


SECTION_START = "<!-- reply classifier: start -->"
SECTION_END = "<!-- reply classifier: end -->"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def markdown_section(results: list[Score], command: str) -> str:
    """The "Reply classifier" section of BENCHMARKS.md: the two targets per set, per-class figures."""
    from datetime import UTC, datetime

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION_START,
        "## Reply classifier",
        "",
        f"Measured {when} with `{command}` (no database, no timing: the figures do not depend on the machine).",
        "Each set was written apart from the rules and never used to write them; the second was written after",
        "the first had been scored. An opt-out counts as stopped when classified `unsubscribe` or sent to a",
        "person (its lead's sequences wait for the decision); positive precision counts only the replies",
        "classified positive without a person.",
        "",
        "| set | replies | opt-out stopped recall | target | positive precision (auto) | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {Path(r.data).name} | {r.replies} | {pct(r.opt_out_stopped_recall)} | "
            f"= {TARGET_OPT_OUT_STOPPED_RECALL:.0%} | {pct(r.positive_precision_auto)} ({r.auto_positives}) | "
            f"≥ {TARGET_POSITIVE_PRECISION:.0%} | {'pass' if r.targets_met else 'FAIL'} |"
        )
    for r in results:
        lines += [
            "",
            f"**{Path(r.data).name}**: strict opt-out recall (classified `unsubscribe`) "
            f"{pct(r.opt_out_strict_recall)}; sent to a person {r.to_person} of {r.replies} "
            f"({', '.join(f'{k} {v}' for k, v in r.to_person_by_label.items())}).",
            "",
            "| class | precision | recall |",
            "|---|---|---|",
            *[f"| {s} | {pct(r.precision[s])} | {pct(r.recall[s])} |" for s in SENTIMENTS],
        ]
    lines.append(SECTION_END)
    return "\n".join(lines) + "\n"


def write_section(report_path: Path, section: str) -> None:
    """Put ``section`` in the report in place of the one there (at the end when there is none)."""
    text = report_path.read_text() if report_path.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    report_path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
