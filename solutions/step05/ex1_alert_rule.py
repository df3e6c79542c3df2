"""Exercise 5.1 — an alert rule that fires on a stated condition.

KO: Prometheus 경고 규칙 하나를 딕셔너리로 돌려주세요(alerts.yml의 rules 항목 하나와 같은 모양). 이름은
    AppSearchP99High, 조건: 앱(job="course-app")의 검색 지연 히스토그램 course_search_latency_seconds의 p99가
    5분 동안 0.25초를 넘을 때. severity 라벨은 "page". 채점기는 promtool로 느린 경우와 빠른 경우를 시험합니다.
EN: Return one Prometheus alerting rule as a dict (one entry of the rules list in alerts.yml): alert
    AppSearchP99High, firing when the p99 of the app's histogram course_search_latency_seconds (job="course-app")
    stays above 0.25 s for 5 minutes; label severity="page". The grader runs promtool on a slow and a fast case.

Check it: make check EX=5.1
"""


def alert_rule() -> dict:
    return {
        "alert": "AppSearchP99High",
        "expr": (
            "histogram_quantile(0.99, sum by (le) "
            '(rate(course_search_latency_seconds_bucket{job="course-app"}[5m]))) > 0.25'
        ),
        "for": "5m",
        "labels": {"severity": "page"},
        "annotations": {"summary": "p99 search latency above 250 ms for 5 minutes"},
    }
