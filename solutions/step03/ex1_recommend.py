"""Exercise 3.1 — recommend items the user has not seen.

KO: 사용자 벡터(user_vector)와 내적(IP)이 가장 큰 아이템 k개의 id를 돌려주되, 이미 본 아이템(seen_ids)은 빼세요.
    결과를 받은 뒤 파이썬에서 빼지 말고 검색의 필터로 빼야 k개를 다 채울 수 있습니다. 채점기는 본 아이템이 섞였는지,
    k개를 다 채웠는지, 보지 않은 아이템 중 정답과 비교한 recall@k(목표 ≥ 0.99)를 잽니다.
EN: Return the ids of the k items with the largest inner product (IP) with user_vector, leaving out seen_ids.
    Exclude them with the search filter (not afterwards in Python), so k results still come back.

Check it: make check EX=3.1
"""


def recommend(client, collection: str, user_vector: list[float], seen_ids: list[int], k: int) -> list[int]:
    hits = client.search(
        collection_name=collection,
        data=[user_vector],
        anns_field="embedding",
        limit=k,
        filter=f"id not in {list(seen_ids)}",
        search_params={"metric_type": "IP"},
    )[0]
    return [hit["id"] for hit in hits]
