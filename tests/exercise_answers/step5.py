"""Step 5: an alert rule, a stable A/B assignment, a blue-green alias switch."""

from tests.exercise_answers import Case

P99 = 'histogram_quantile(0.99, sum by (le) (rate(course_search_latency_seconds_bucket{job="course-app"}[5m]))) > 0.25'


def rule(expr: str = P99, duration: str | None = "5m", severity: str = "page", annotations: str = "") -> str:
    fields = ['"alert": "AppSearchP99High"', f'"expr": {expr!r}', f'"labels": {{"severity": {severity!r}}}']
    if duration is not None:
        fields.append(f'"for": {duration!r}')
    if annotations:
        fields.append(f'"annotations": {annotations}')
    return "def alert_rule():\n    return {" + ", ".join(fields) + "}\n"


CASES = [
    Case("5.1", "for: 10m", rule(duration="10m"), expect="firing 5.5 min later (for: 5m): it stayed silent"),
    Case("5.1", "no for", rule(duration=None), expect="silent 4.5 min later (for: 5m): it fired"),
    Case("5.1", "p95", rule(expr=P99.replace("0.99", "0.95")), expect="p99 0.27 s: must fire"),
    Case("5.1", "p99.9", rule(expr=P99.replace("0.99", "0.999")), expect="p99.9 0.46 s: must stay silent"),
    Case("5.1", "threshold 0.2", rule(expr=P99.replace("> 0.25", "> 0.2")), expect="p99 0.22 s: must stay silent"),
    Case("5.1", "no job selector", rule(expr=P99.replace('{job="course-app"}', "")), expect="another job slow"),
    Case(
        "5.1",
        "per instance, not the app",
        rule(expr=P99.replace("sum by (le) (rate(", "(rate(")),
        expect="one small instance of the app slow",
    ),
    Case("5.1", "severity critical", rule(severity="critical"), expect="label severity is 'critical'"),
    Case(
        "5.1",
        "templated annotation, another window and form",
        rule(
            expr="histogram_quantile(0.99, sum(rate("
            'course_search_latency_seconds_bucket{job="course-app"}[2m])) by (le)) > 0.25',
            annotations='{"summary": "p99 {{ $value | humanizeDuration }} for 5 minutes", "runbook": "docs"}',
        ),
    ),
    Case(
        "5.2",
        "md5 % 5: share ignored",
        """
import hashlib
def arm(user_id, share):
    return "treatment" if int(hashlib.md5(user_id.encode()).hexdigest(), 16) % 5 == 0 else "control"
""",
        expect="share=0.5: treatment share 0.",
    ),
    Case(
        "5.2",
        "random",
        """
import random
def arm(user_id, share):
    return "treatment" if random.random() < share else "control"
""",
        expect="got another arm in another process",
    ),
    Case(
        "5.2",
        "reversed",
        """
import hashlib
def arm(user_id, share):
    bucket = int(hashlib.sha1(user_id.encode()).hexdigest(), 16) % 10000 / 10000
    return "treatment" if bucket > share else "control"
""",
        expect="share=0.2: treatment share",
    ),
    Case(
        "5.2",
        "names of its own",
        """
import hashlib
def arm(user_id, share):
    bucket = int(hashlib.sha1(user_id.encode()).hexdigest(), 16) % 10000 / 10000
    return "B" if bucket < share else "A"
""",
        expect="expected 'control' or 'treatment'",
    ),
    Case(
        "5.2",
        "crc32 buckets",
        """
import zlib
def arm(user_id, share):
    return "treatment" if zlib.crc32(user_id.encode("utf-8")) % 100_000 < share * 100_000 else "control"
""",
    ),
    Case(
        "5.3",
        "always alter",
        "def switch(client, alias, new_collection):\n"
        "    client.alter_alias(collection_name=new_collection, alias=alias)\n",
        expect="switch() raised",
        server=True,
    ),
    Case(
        "5.3",
        "always create",
        "def switch(client, alias, new_collection):\n"
        "    client.create_alias(collection_name=new_collection, alias=alias)\n",
        expect="switch() raised",
        server=True,
    ),
    Case(
        "5.3",
        "drop, then create",
        """
def switch(client, alias, new_collection):
    if alias in client.list_aliases()["aliases"]:
        client.drop_alias(alias=alias)
    client.create_alias(collection_name=new_collection, alias=alias)
""",
        expect="called drop_alias",
    ),
    Case(
        "5.3",
        "drops the old collection",
        """
def switch(client, alias, new_collection):
    if alias in client.list_aliases()["aliases"]:
        old = client.describe_alias(alias=alias)["collection_name"]
        client.alter_alias(collection_name=new_collection, alias=alias)
        if old != new_collection:
            client.drop_collection(collection_name=old)
    else:
        client.create_alias(collection_name=new_collection, alias=alias)
""",
        expect="called drop_collection",
    ),
    Case(
        "5.3",
        "try create, else alter",
        """
def switch(client, alias, new_collection):
    try:
        client.create_alias(collection_name=new_collection, alias=alias)
    except Exception:
        client.alter_alias(collection_name=new_collection, alias=alias)
""",
        server=True,
    ),
]

CASES += [
    Case(
        "5.2",
        "hash(): salted per process",
        'def arm(user_id, share):\n    return "treatment" if (hash(user_id) % 1000) / 1000 < share else "control"\n',
        expect="got another arm in another process",
    ),
]
