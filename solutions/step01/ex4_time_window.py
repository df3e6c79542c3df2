"""Exercise 1.4 — a TIMESTAMPTZ range filter: the events of March 2025, Korea time.

KO: 이벤트 컬렉션의 at 필드(TIMESTAMPTZ)에서 한국 시간(UTC+09:00)으로 2025년 3월 1일 0시부터 4월 1일 0시 전까지의
    이벤트만 고르는 필터 식을 돌려주세요. 시작은 포함하고 끝은 포함하지 않습니다. 이벤트는 여러 UTC 오프셋으로
    기록되어 있습니다. 채점기는 이 식으로 조회한 id 집합을 Python datetime으로 계산한 정답과 비교합니다(레슨 1.5).
EN: Return a filter expression that selects the events whose at field (TIMESTAMPTZ) lies from 1 March 2025 00:00
    up to, but not including, 1 April 2025 00:00, Korea time (UTC+09:00). The events were written in several UTC
    offsets. The grader compares the ids it selects with the exact set computed with Python datetimes (lesson 1.5).

Check it: make check EX=1.4
"""


def time_window() -> str:
    return "at >= ISO '2025-03-01T00:00:00+09:00' and at < ISO '2025-04-01T00:00:00+09:00'"
