"""Step 3: recommendations without seen items, a k-NN anomaly score."""

from tests.exercise_answers import Case

CASES = [
    Case(
        "3.1",
        "seen items dropped in Python from a longer list",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding",
                         limit=k + len(seen_ids), search_params={"metric_type": "IP"})[0]
    return [h["id"] for h in hits if h["id"] not in seen_ids][:k]
""",
        expect="left out in Python, not by the search's filter",
    ),
    Case(
        "3.1",
        "more than k",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding", limit=k + 5,
                         filter=f"id not in {list(seen_ids)}", search_params={"metric_type": "IP"})[0]
    return [h["id"] for h in hits]
""",
        expect="expected exactly k=",
    ),
    Case(
        "3.1",
        "COSINE on an IP index",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding", limit=k,
                         filter=f"id not in {list(seen_ids)}", search_params={"metric_type": "COSINE"})[0]
    return [h["id"] for h in hits]
""",
        expect="metric",
        server=True,
    ),
    Case(
        "3.1",
        "worst first",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding", limit=k,
                         filter=f"id not in {list(seen_ids)}", search_params={"metric_type": "IP"})[0]
    return sorted(h["id"] for h in hits) if k > 1 else [hits[0]["id"]]
""",
        expect="not best first",
    ),
    Case(
        "3.1",
        "not (id in [...]), written out",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    ids = ", ".join(str(i) for i in seen_ids)
    result = client.search(collection_name=collection, data=[user_vector], limit=k, filter=f"not (id in [{ids}])")
    return [int(hit["id"]) for hit in result[0]]
""",
    ),
    Case(
        "3.2",
        "the nearest, not the k-th",
        """
import math
def anomaly_scores(client, collection, points, k):
    results = client.search(collection_name=collection, data=points, anns_field="embedding", limit=k,
                            search_params={"metric_type": "L2"})
    return [math.sqrt(hits[0]["distance"]) for hits in results]
""",
        expect="its distance to the k-th neighbour is",
    ),
    Case(
        "3.2",
        "1 - distance on a COSINE search",
        """
def anomaly_scores(client, collection, points, k):
    results = client.search(collection_name=collection, data=points, anns_field="embedding", limit=k,
                            search_params={"metric_type": "COSINE"})
    return [1 - hits[-1]["distance"] for hits in results]
""",
        expect="metric",
        server=True,
    ),
    Case(
        "3.2",
        "a list of lists",
        """
import math
def anomaly_scores(client, collection, points, k):
    results = client.search(collection_name=collection, data=points, anns_field="embedding", limit=k,
                            search_params={"metric_type": "L2"})
    return [[math.sqrt(hits[-1]["distance"])] for hits in results]
""",
        expect="each score must be a float, got a list of 1",
    ),
    Case(
        "3.2",
        "nothing returned",
        """
def anomaly_scores(client, collection, points, k):
    client.search(collection_name=collection, data=points, anns_field="embedding", limit=k)
""",
        expect="returned None, expected a list of 200 floats",
    ),
    Case(
        "3.2",
        "one search per point, hits[k - 1], ** 0.5",
        """
def anomaly_scores(client, collection, points, k):
    scores = []
    for point in points:
        hits = client.search(collection_name=collection, data=[point], limit=k)[0]
        scores.append(hits[k - 1]["distance"] ** 0.5)
    return scores
""",
    ),
]

CASES += [
    Case(
        "3.1",
        "filtered afterwards: fewer than k",
        """
def recommend(client, collection, user_vector, seen_ids, k):
    hits = client.search(collection_name=collection, data=[user_vector], anns_field="embedding", limit=k,
                         search_params={"metric_type": "IP"})[0]
    return [h["id"] for h in hits if h["id"] not in seen_ids]
""",
        expect="expected exactly k=",
    ),
    Case(
        "3.2",
        "squared distance",
        """
def anomaly_scores(client, collection, points, k):
    results = client.search(collection_name=collection, data=points, anns_field="embedding", limit=k,
                            search_params={"metric_type": "L2"})
    return [hits[-1]["distance"] for hits in results]
""",
        expect="its distance to the k-th neighbour is",
    ),
]
