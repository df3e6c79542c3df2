"""Exercise 2.2 — a filter expression for a stated condition.

KO: 다음 조건의 행만 고르는 Milvus 필터 식을 돌려주세요: 카테고리(category)가 "books"이고, 가격(price)이
    20 미만이며, 재고(stock)가 있는(0보다 큰) 상품. 채점기는 이 식으로 조회한 id 집합을
    NumPy로 계산한 정답과 비교합니다.
EN: Return a Milvus filter expression that selects products whose category is "books", price is below 20,
    and stock is above 0. The grader compares the ids it selects with the exact set computed in NumPy.

Check it: make check EX=2.2
"""


def filter_expr() -> str:
    # your code here
    raise NotImplementedError("write this function")
