"""Step 2: an index choice within a cost rule, a filter expression."""

from tests.exercise_answers import Case

CASES = [
    Case(
        "2.1",
        "IVF nlist 1024, nprobe 32",
        'def choose_index():\n    return "IVF_FLAT", {"nlist": 1024}, {"nprobe": 32}\n',
        expect="held-out recall@10",  # Milvus Lite's IVF with 1024 lists: 0.90-0.93
        # not a server case: the 2.3.5 server's IVF lands at 0.948-0.98 with these params, depending on the
        # grader's seed, too near the 0.95 target to say right or wrong
    ),
    Case(
        "2.1",
        "HNSW M=4, efConstruction=16",
        'def choose_index():\n    return "HNSW", {"M": 4, "efConstruction": 16}, {"ef": 128}\n',
        expect="held-out recall@10",
        server=True,
    ),
    Case(
        "2.1",
        "FLAT",
        'def choose_index():\n    return "FLAT", {}, {}\n',
        expect="is not an IVF or HNSW index",
    ),
    Case(
        "2.1",
        "nprobe over nlist/4",
        'def choose_index():\n    return "IVF_FLAT", {"nlist": 64}, {"nprobe": 32}\n',
        expect="over the cost rule (nprobe ≤ nlist/4 = 16",
    ),
    Case(
        "2.1",
        "ef below the limit",
        'def choose_index():\n    return "HNSW", {"M": 16, "efConstruction": 200}, {"ef": 8}\n',
        expect="10 ≤ ef ≤ 128",
    ),
    Case(
        "2.1",
        "hnsw in lower case",
        'def choose_index():\n    return "hnsw", {"M": 16, "efConstruction": 200}, {"ef": 100}\n',
        server=True,
        server_expect="invalid index type",  # Milvus Lite takes any case; the 2.3.5 server only "HNSW"
    ),
    Case(
        "2.1",
        "IVF_FLAT nlist 128, nprobe 32",
        'def choose_index():\n    return "IVF_FLAT", {"nlist": 128}, {"nprobe": 32}\n',
        server=True,
    ),
    Case(
        "2.2",
        "price <= 20",
        "def filter_expr():\n    return 'category == \"books\" and price <= 20 and stock > 0'\n",
        expect="price 20.00",
    ),
    Case(
        "2.2",
        "stock != 0",
        "def filter_expr():\n    return 'category == \"books\" and price < 20 and stock != 0'\n",
        expect="stock -1",
    ),
    Case(
        "2.2",
        "like books",
        "def filter_expr():\n    return 'category like \"%books%\" and price < 20 and stock > 0'\n",
        expect="category 'ebooks'",
    ),
    Case(
        "2.2",
        "or",
        "def filter_expr():\n    return 'category == \"books\" or price < 20 and stock > 0'\n",
        expect="rows outside the condition",
    ),
    Case(
        "2.2",
        "an expression the engine refuses",
        "def filter_expr():\n    return \"category = 'books' && price < 20 && stock > 0\"\n",
        expect="the engine refused the expression",
    ),
    Case(
        "2.2",
        "in, >= 1, not (price >= 20)",
        "def filter_expr():\n    return '(category in [\"books\"]) and not (price >= 20.0) and stock >= 1'\n",
    ),
]

CASES += [
    Case(
        "2.1",
        "cheap, below the target",
        'def choose_index():\n    return "HNSW", {"M": 16, "efConstruction": 200}, {"ef": 16}\n',
        expect="held-out recall@10",
    ),
    Case(
        "2.2",
        "off by one on both bounds",
        "def filter_expr():\n    return 'category == \"books\" and price <= 20 and stock >= 0'\n",
        expect="rows outside the condition",
    ),
]
