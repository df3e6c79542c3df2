"""Exercise 1.2 — insert in batches, then make the rows durable.

KO: vectors[i]와 titles[i]를 id=i인 행으로 컬렉션에 넣으세요. 한 번의 insert 호출에는 최대 500행만 보내고,
    다 넣은 뒤 flush한 다음, 넣은 행 수를 돌려주세요. 채점기는 count(*)로 행 수를 직접 세고 호출마다의 행 수를 봅니다.
EN: Insert row i as {"id": i, "title": titles[i], "embedding": vectors[i]}, at most 500 rows per insert call,
    flush at the end, and return how many rows you inserted. The grader counts with count(*) and watches each call.

Check it: make check EX=1.2
"""


def insert_rows(client, collection: str, vectors: list[list[float]], titles: list[str]) -> int:
    inserted = 0
    for start in range(0, len(vectors), 500):
        rows = [
            {"id": i, "title": titles[i], "embedding": vectors[i]} for i in range(start, min(start + 500, len(vectors)))
        ]
        inserted += client.insert(collection_name=collection, data=rows)["insert_count"]
    client.flush(collection_name=collection)
    return inserted
