"""Exercise 3.2 — an anomaly score from the nearest neighbours.

KO: 각 점(points의 행)의 이상 점수를 돌려주세요: 컬렉션에 든 정상 기준점 중 k번째로 가까운 점까지의 L2 거리
    (제곱이 아닌 거리). 컬렉션의 인덱스는 L2로 만들어져 있습니다(Milvus는 L2에서 제곱 거리를 돌려줍니다).
    채점기는 NumPy 정답과의 오차와, 섞어 둔 이상점 10개가 점수 상위 10위에 드는지 봅니다.
EN: Return each point's anomaly score: the L2 distance (not squared) to its k-th nearest reference point in the
    collection (indexed with L2; Milvus returns squared L2 distances). Return a list of floats, one per point.

Check it: make check EX=3.2
"""

import math


def anomaly_scores(client, collection: str, points: list[list[float]], k: int) -> list[float]:
    results = client.search(
        collection_name=collection, data=points, anns_field="embedding", limit=k, search_params={"metric_type": "L2"}
    )
    return [math.sqrt(max(hits[-1]["distance"], 0.0)) for hits in results]
