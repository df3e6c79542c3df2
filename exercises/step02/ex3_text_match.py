"""Exercise 2.3 — a TEXT_MATCH filter that selects exactly the notes asked for.

KO: 노트 컬렉션의 text 필드(표준 분석기, enable_match=True)에서 "replica"라는 단어가 있고, "disk"나 "memory" 중
    하나 이상도 있는 노트만 고르는 필터 식을 돌려주세요. 대소문자는 구별하지 않습니다("Replica"도 해당).
    "replicas"처럼 다른 단어는 해당하지 않습니다. 채점기는 이 식으로 조회한 id 집합을, 같은 행을 Python으로
    단어 단위로 잘라 계산한 정답과 비교합니다.
EN: Return a filter expression that selects the notes whose text field (standard analyzer, enable_match=True)
    contains the word "replica" and at least one of "disk" or "memory". Case does not matter ("Replica" counts);
    another word such as "replicas" does not. The grader compares the ids it selects with the exact set computed
    in Python from the same rows, split into words.

Check it: make check EX=2.3
"""


def text_filter() -> str:
    # your code here
    raise NotImplementedError("write this function")
