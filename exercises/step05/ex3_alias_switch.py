"""Exercise 5.3 — a blue-green switch with an alias.

KO: 별칭(alias)이 new_collection을 가리키게 하세요. 별칭이 아직 없으면 만들고, 있으면 옮깁니다. 두 번 불러도
    오류가 나면 안 되고, 옛 컬렉션은 지우지 않습니다(되돌릴 수 있게). 채점기는 별칭으로 검색해 새 컬렉션의 행이
    오는지, 옛 컬렉션이 남아 있는지 확인합니다.
EN: Make alias point at new_collection: create the alias if it does not exist, move it otherwise. Calling it
    twice must not fail, and the old collection stays (so you can switch back).

Check it: make check EX=5.3
"""


def switch(client, alias: str, new_collection: str) -> None:
    # your code here
    raise NotImplementedError("write this function")
