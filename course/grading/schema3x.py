"""Exercise 1.4 (a TIMESTAMPTZ time-range filter): graded by the ids the engine selects with the answer.

TIMESTAMPTZ came with Milvus 2.6.6; an engine without it cannot grade the answer, which is then skipped by
name (never passed). The rows are drawn from the run's seed, plus instants on and next to each boundary,
written in other UTC offsets than the task's.
"""

from __future__ import annotations

import datetime as dt

from course.grading.common import Context, Failed, Problem, Result, fill, fresh, kind, require, selected_ids

import numpy as np
from pymilvus import DataType

KST = dt.timezone(dt.timedelta(hours=9))
START, END = dt.datetime(2025, 3, 1, tzinfo=KST), dt.datetime(2025, 4, 1, tzinfo=KST)  # the task: March, Korea time
BOUNDARY = [
    "2025-02-28T15:00:00Z",  # = 1 March 00:00 KST: in
    "2025-02-28T14:59:59Z",  # one second before: out
    "2025-03-31T15:00:00Z",  # = 1 April 00:00 KST: out (the end is not included)
    "2025-03-31T14:59:59Z",  # one second before the end: in
    "2025-03-01T00:00:00Z",  # 1 March in UTC = 09:00 KST: in
    "2025-03-31T20:00:00-05:00",  # = 1 April 10:00 KST: out
]


def event_times(rng, n: int) -> list[str]:
    base = dt.datetime(2025, 2, 10, tzinfo=dt.timezone.utc)
    zones = [dt.timezone.utc, KST, dt.timezone(dt.timedelta(hours=-5))]
    times = [
        (base + dt.timedelta(seconds=int(s))).astimezone(zones[i % 3]).isoformat()
        for i, s in enumerate(rng.integers(0, 70 * 86400, size=n))
    ]
    for j, value in enumerate(BOUNDARY):
        times[int(rng.integers(j * (n // len(BOUNDARY)), (j + 1) * (n // len(BOUNDARY))))] = value
    return times


def check_time_window(ctx: Context) -> Result:
    require(ctx.engine.info, "timestamptz", "2.6.6")
    rng, n = ctx.rng, 900
    times = event_times(rng, n)
    expression = ctx.answer().call(timeout=ctx.timeout)
    if not isinstance(expression, str):
        raise Failed(
            f"returned {kind(expression)}, expected a filter string", f"{kind(expression)}: 문자열이 필요합니다"
        )
    name = "ex_1_4"
    fresh(ctx.client, name, 4, extra=(("at", DataType.TIMESTAMPTZ, {}),))
    fill(ctx.client, name, rng.standard_normal((n, 4)).astype(np.float32), at=times)
    ctx.client.load_collection(name)
    moments = [dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
    expected = {i for i, m in enumerate(moments) if START <= m < END}
    got = selected_ids(ctx, name, expression, n)
    missed, wrong = sorted(expected - got), sorted(got - expected)
    problems = []
    if missed:
        problems.append(
            Problem(
                f"missed {len(missed)} events inside the window, e.g. id {missed[0]} at {times[missed[0]]}",
                f"구간 안의 이벤트 {len(missed)}개를 놓쳤습니다 (예: {times[missed[0]]})",
            )
        )
    if wrong:
        problems.append(
            Problem(
                f"selected {len(wrong)} events outside the window, e.g. id {wrong[0]} at {times[wrong[0]]}",
                f"구간 밖의 이벤트 {len(wrong)}개를 골랐습니다 (예: {times[wrong[0]]})",
            )
        )
    return Result(
        f"selected {len(got)}: missed {len(missed)}, wrong {len(wrong)}",
        f"exactly the {len(expected)} events of March (KST)",
        problems,
    )
