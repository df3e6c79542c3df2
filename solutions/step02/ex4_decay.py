"""Exercise 2.4 — a decay ranker that meets a ranking rule.

KO: 기사 컬렉션(age_days 필드, COSINE 유사도)에 걸 gauss decay 리랭커의 파라미터를 dict로 돌려주세요. 규칙:
    7일 이내의 기사는 전혀 깎지 않고(계수 1), 30일 된 기사의 계수는 정확히 0.5가 되어야 합니다.
    돌려줄 키는 "function", "origin", "offset", "scale", "decay"입니다. 채점기는 이 값으로
    Function(reranker="decay")을 만들어 검색하고, 엔진이 낸 상위 10개의 순서를 규칙대로 NumPy로 계산한
    순서와 질의마다 비교합니다.
EN: Return, as a dict, the parameters of a gauss decay ranker for an articles collection (age_days field,
    COSINE similarity). The rule: articles up to 7 days old are not decayed at all (factor 1), and an article
    30 days old gets a factor of exactly 0.5. Keys: "function", "origin", "offset", "scale", "decay". The grader
    builds Function(reranker="decay") from them, searches, and compares the engine's top-10 order for each query
    with the order the rule gives, computed in NumPy.

Check it: make check EX=2.4
"""


def decay_params() -> dict:
    # no decay within 7 days of today; 7 + 23 = 30 days old is where the factor reaches 0.5
    return {"function": "gauss", "origin": 0, "offset": 7, "scale": 23, "decay": 0.5}
