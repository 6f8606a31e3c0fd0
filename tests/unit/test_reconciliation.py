"""The verdict on a day from its figures: pure."""

from __future__ import annotations

from message_export.reconciliation import DayMeasurements, judge_day

ARCHIVED = {"pending": 0, "in_progress": 0, "completed": 10, "failed": 0}


def test_a_day_whose_figures_agree_is_completed():
    verdict = judge_day(DayMeasurements(ARCHIVED, True, source_count=10, archived_objects=10))
    assert verdict.status == "completed" and verdict.problems == () and verdict.gaps.mismatches == 0


def test_every_reason_is_listed_in_order():
    counts = {"pending": 1, "in_progress": 1, "completed": 6, "failed": 2}
    verdict = judge_day(
        DayMeasurements(
            counts,
            False,
            source_count=None,
            archived_objects=4,
            failures=[("a", 5, "timeout"), ("b", 5, "S3 500")],
            unmeasured=["reconciliation count unavailable: refused"],
        )
    )
    assert verdict.status == "failed"
    assert verdict.problems == (
        "extraction did not complete",
        "reconciliation count unavailable: refused",
        "2 messages failed: 'a' (5 attempts): timeout; 'b' (5 attempts): S3 500",
        "2 messages not processed (pending/in_progress)",
        "6 messages completed but only 4 objects under the window's prefix",
    )
    assert verdict.gaps.missing_objects == 2 and verdict.gaps.untracked == 0


def test_the_source_count_only_counts_once_the_extraction_completed():
    unfinished = judge_day(DayMeasurements(ARCHIVED, False, source_count=50, archived_objects=10))
    assert unfinished.gaps.untracked == 0
    finished = judge_day(DayMeasurements(ARCHIVED, True, source_count=50, archived_objects=10))
    assert finished.gaps.untracked == 40
    assert finished.problems == ("Elasticsearch reports 50 messages in the window but only 10 are tracked",)


def test_a_manifest_problem_found_later_fails_the_day():
    verdict = judge_day(DayMeasurements(ARCHIVED, True, 10, 10)).with_problem("manifest not written: S3 503")
    assert verdict.status == "failed" and verdict.problems == ("manifest not written: S3 503",)
