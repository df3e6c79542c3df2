"""Exercise 5.2 — a stable A/B assignment.

KO: 사용자 id를 "control" 또는 "treatment"에 배정하세요. treatment의 비율은 share(0~1)에 가까워야 하고, 같은
    사용자는 언제 어느 프로세스에서 물어도 같은 쪽에 배정되어야 합니다(파이썬의 hash()는 프로세스마다 달라집니다).
    채점기는 사용자 20,000명의 비율과, 다른 프로세스에서 다시 계산한 배정이 같은지를 잽니다.
EN: Assign a user id to "control" or "treatment": the treatment share must be close to share (0..1), and a user
    must get the same arm in every process (Python's hash() changes between processes).

Check it: make check EX=5.2
"""

import hashlib


def arm(user_id: str, share: float) -> str:
    bucket = int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big") / 2**64
    return "treatment" if bucket < share else "control"
