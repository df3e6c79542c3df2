"""Every numeric option of every lesson has a range, and a value outside it is refused before any work.

The options are read from each lesson's own parser (no list kept here): a test patches the parser's
``parse_args`` to hand the parser back instead of running the lesson, then feeds each numeric option
zero, a negative and an absurd value.
"""

import argparse
import contextlib
import io

from common import cli
from course.curriculum import discover, load_module

import pytest

LESSONS = discover()


class Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def lesson_parser(lesson) -> argparse.ArgumentParser:
    def capture(self, args=None, namespace=None):
        raise Captured(self)

    module = load_module(lesson.path)
    original = cli.LessonParser.parse_args
    cli.LessonParser.parse_args = capture
    try:
        module.main([])
    except Captured as captured:
        return captured.parser
    finally:
        cli.LessonParser.parse_args = original
    raise AssertionError(f"{lesson.name} never parsed its arguments")


def numeric_options(parser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if action.option_strings and (action.type in (int, float) or isinstance(action.type, cli.InRange))
    ]


def refusal(parser, argv: list[str]) -> str:
    """The stderr of parsing ``argv``; the parser must exit 2."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as stop:
        argparse.ArgumentParser.parse_args(parser, argv)
    assert stop.value.code == 2, argv
    return err.getvalue()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_numeric_options_have_ranges_and_refuse_bad_values(lesson):
    parser = lesson_parser(lesson)
    options = numeric_options(parser)
    for action in options:
        name = action.option_strings[0]
        assert isinstance(action.type, cli.InRange), (
            f"{lesson.name} {name}: type {action.type} has no range (use cli.count/cli.real)"
        )
        bounded = action.type
        defaults = action.default if isinstance(action.default, list) else [action.default]
        for default in defaults:
            assert default is None or bounded.low <= default <= bounded.high, (
                f"{name} default {default} outside its range"
            )
        bad = {-5, bounded.high * 10 + 1, 10**15}
        if bounded.low > 0:
            bad |= {0, bounded.low - (1 if bounded.kind is int else bounded.low / 2)}
        for value in bad:
            message = refusal(parser, [name, str(value)])
            lines = message.strip().splitlines()
            assert len(lines) == 1 and name in lines[0] and "from" in lines[0], (name, value, message)
        assert "is not" in refusal(parser, [name, "ten"])


def test_every_lesson_has_been_checked_for_options():
    """Lessons without numeric options are few and named, so a new unchecked lesson stands out."""
    without = [lesson.id for lesson in LESSONS if not numeric_options(lesson_parser(lesson))]
    assert without == ["5.2", "5.5", "5.6", "5.7"], without
