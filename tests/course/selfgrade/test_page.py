"""The progress page's pieces, from a progress summary (no server, no grading): the rows,
the exercises and messages (learner text shown as text), the chart."""

from __future__ import annotations

import io

from matplotlib.image import imread

from course.selfgrade.page import ServerClient, exercises_html, lesson_rows, points_chart

CLIENT = ServerClient({"url": "http://127.0.0.1:8888/", "base_url": "/", "token": "t"})
SUMMARY = {
    "lessons": [
        {
            "lesson": "00_intro",
            "title": "00 · Intro",
            "possible": 5.0,
            "graded_at": "2026-12-07T08:00:00+00:00",
            "score": 3.0,
            "changed": True,
            "error": None,
            "feedback": "00_intro.html",
            "notes": ["A cell ran longer than the time limit."],
            "exercises": [{"exercise": "Exercise 1", "points": 3.0, "possible": 5.0}],
            "failed": [
                {
                    "grade_id": "test_ex1",
                    "exercise": "Exercise 1",
                    "points": 0.0,
                    "max_points": 2.0,
                    "message": "CheckFailed: layer '<script>alert(1)</script>' is wrong",
                    "manual": False,
                }
            ],
        },
        {"lesson": "01_next", "title": "01 · Next", "possible": 8.0},
    ],
    "total": {"score": 3.0, "possible": 13.0},
    "running": False,
    "run": None,
}


def test_rows_say_points_when_and_what_changed() -> None:
    rows = lesson_rows(SUMMARY, CLIENT)
    assert rows["00_intro"][:3] == ["00 · Intro", "3 / 5", "2026-12-07 08:00 UTC"]
    assert 'href="/course-selfgrade/feedback/00_intro"' in rows["00_intro"][3]
    assert rows["00_intro"][4] == "your notebook changed since it was graded: grade it again"
    assert rows["01_next"] == ["01 · Next", "– / 8", "not graded yet", "", ""]
    assert rows["total"][1] == "<b>3 / 13</b>"


def test_messages_and_notes_are_shown_as_text() -> None:
    page = exercises_html(SUMMARY)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "3 / 5" in page and "A cell ran longer than the time limit." in page
    assert 'data-lesson="01_next"' not in page  # not graded: no details


def test_the_chart_is_a_png_of_every_lesson() -> None:
    png = points_chart(SUMMARY)
    assert png.startswith(b"\x89PNG")
    assert imread(io.BytesIO(png)).shape[1] == 700  # 7 in at 100 dpi
