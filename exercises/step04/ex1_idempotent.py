"""Exercise 4.1 — an idempotent consumer that survives redelivery.

KO: 이벤트 목록을 컬렉션에 반영하세요. 이벤트는 {"id", "version", "embedding"} 딕셔너리입니다. 컨슈머가 죽었다
    살아나면 이미 반영한 이벤트가 다시 오고, 그중에는 이미 더 새 version이 저장된 id의 옛 이벤트도 있습니다.
    몇 번을 다시 받아도 id마다 행은 하나, 그리고 그 id의 가장 큰 version이 남아야 합니다.
    채점기는 옛 이벤트를 다시 보낸 뒤 행 수와 남은 version을 셉니다.
EN: Apply the events ({"id", "version", "embedding"} dicts). After a crash, events already applied arrive again,
    including old events for ids that already hold a newer version. However often that happens, each id must
    have one row, holding its highest version.

Check it: make check EX=4.1
"""


def apply_events(client, collection: str, events: list[dict]) -> None:
    # your code here
    raise NotImplementedError("write this function")
