"""The classifier's section of BENCHMARKS.md is written in place of the one there, the rest untouched."""

from __future__ import annotations

from bench.bench_classifier import SECTION_END, SECTION_START, markdown_section, score, write_section
from tests.unit.test_classifier_heldout import DATA


def test_the_classifier_section_replaces_itself_and_keeps_the_rest_of_the_report(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\n| figure | value |\n|---|---|\n| Engine | 1,427 steps/s |\n")
    result = score(DATA / "replies_dev.jsonl")
    write_section(report, markdown_section([result], "python -m bench.bench_classifier"))
    write_section(report, markdown_section([result], "python -m bench.bench_classifier"))
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\n| figure | value |") and "| Engine | 1,427 steps/s |" in text
    assert text.count(SECTION_START) == 1 and text.count(SECTION_END) == 1
    assert "| replies_dev.jsonl | 193 | 100.0% | = 100% |" in text
    assert "| unsubscribe | 100.0% | 100.0% |" in text
