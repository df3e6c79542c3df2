# %% [markdown]
"""
Text search: Python's documentation and a Milvus FAQ, measured on held-out questions.

What you learn
  - the semantic-search pipeline: chunk text with overlap → embed with
    all-MiniLM-L6-v2 (384-d, offline) → store with metadata → search;
  - how to measure it: hit@1, hit@5 and MRR on questions whose right answer
    is known, written in other words than the text they should find;
  - a keyword baseline to beat (Milvus' own BM25 where the engine has it,
    the same formula in NumPy where it does not), and dense + BM25 fused
    with RRF where the engine has both;
  - an embedding cache keyed by model and text: the second run encodes
    nothing.

Data (all offline)
  - documents: the Python language reference that ships with Python
    (``pydoc_data.topics``, ~65k words) cut into passages of 80 words with
    20 words of overlap, each prefixed with its section title;
  - Q&A: 58 question → answer pairs about Milvus written for this course
    (step03_use_cases/data/milvus_faq.json), each with a held-out paraphrase
    that shares few words with the entry;
  - 40 questions about Python with the reference section(s) that answer them
    (step03_use_cases/data/python_doc_questions.json).

Prerequisites  step02_core_features/04_filtered_and_hybrid.py
Run            python step03_use_cases/01_text_search.py [--chunk-words 80] [--overlap 20]
Docs           docs/step03_use_cases.md, section "01 텍스트 검색"
"""

# %%
from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

from common import cli, indexes
from common.connection import quiet_pymilvus, verify_engine
from common.embeddings import EmbeddingCache, load_model
from common.errors import BadInput
from common.metrics import Stopwatch, time_calls
from common.report import heading, save_json, table
from common.rows import drop_if_exists, vector_rows

import numpy as np
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker
from pymilvus.exceptions import MilvusException

DATA = Path(__file__).resolve().parent / "data"
DOCS = "s3_l1_python_docs"
FAQ = "s3_l1_milvus_faq"
K = 10  # ranks are read from the top 10; a right answer further down counts as a miss (MRR 0)


# %% [markdown]
# ## Two corpora: Python's language reference and a Milvus FAQ


# %%
def python_reference_passages(chunk_words: int, overlap: int) -> list[dict]:
    """Cut every section of the bundled language reference into overlapping word windows."""
    from pydoc_data.topics import topics

    if not 0 <= overlap < chunk_words:
        raise BadInput(
            f"--overlap {overlap} must be smaller than --chunk-words {chunk_words}",
            "e.g. --chunk-words 80 --overlap 20",
        )
    passages = []
    for topic in sorted(topics):
        lines = topics[topic].strip().splitlines()
        title = lines[0].strip()  # e.g. 'The "try" statement'
        words = " ".join(lines[1:]).split()
        for start in range(0, max(len(words) - overlap, 1), chunk_words - overlap):
            chunk = " ".join(words[start : start + chunk_words])
            # The title travels with every chunk: "it must be at least..." means nothing without it.
            passages.append({"topic": topic, "text": f"{title}: {chunk}"})
    return passages


def faq_entries() -> list[dict]:
    entries = json.loads((DATA / "milvus_faq.json").read_text())
    return [
        {"topic": str(i), "text": f"Q: {e['q']} A: {e['a']}", "question": e["q"], "paraphrase": e["p"]}
        for i, e in enumerate(entries)
    ]


# %% [markdown]
# ## The collections


# %%
# docs:begin collection
def text_schema(dim: int, with_bm25: bool):
    """id, source section, passage text, its embedding (+ a BM25 sparse vector where the engine has it)."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="topic", datatype=DataType.VARCHAR, max_length=64)  # the section: what we grade on
    schema.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=8192, enable_analyzer=with_bm25)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)  # 384 for all-MiniLM-L6-v2
    if with_bm25:  # Milvus turns `text` into a BM25 sparse vector itself, on insert and on search
        schema.add_field(field_name="sparse", datatype=DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
            )
        )
    return schema


def build(client, info, name: str, passages: list[dict], vectors: np.ndarray, with_bm25: bool) -> None:
    """Create the collection with its indexes, insert passages with their vectors, flush, load."""
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(
        field_name="embedding",
        index_type="HNSW",
        metric_type="COSINE",  # MiniLM: cosine
        params=indexes.engine_build_params(info, {"M": 16, "efConstruction": 128}),
    )
    if with_bm25:
        index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    drop_if_exists(client, name)
    # Bounded: every row is flushed before load, so searches see it without the server's Strong wait.
    client.create_collection(
        collection_name=name,
        schema=text_schema(vectors.shape[1], with_bm25),
        index_params=index_params,
        consistency_level="Bounded",
    )
    rows = vector_rows(
        vectors, id=range(len(passages)), topic=[p["topic"] for p in passages], text=[p["text"] for p in passages]
    )
    for start in range(0, len(rows), 1000):
        client.insert(collection_name=name, data=rows[start : start + 1000])
    client.flush(collection_name=name)
    client.load_collection(collection_name=name)


# docs:end


# %% [markdown]
# ## Three retrievers: dense, BM25, hybrid


# %%
# docs:begin search
def dense_search(client, name, query_vectors: np.ndarray) -> list[list[str]]:
    """Semantic search: the questions were encoded with the same model as the passages."""
    hits = client.search(
        collection_name=name,
        data=query_vectors.tolist(),
        anns_field="embedding",
        limit=K,
        output_fields=["topic"],
        search_params={"metric_type": "COSINE", "params": {"ef": 64}},
    )
    return [[h["entity"]["topic"] for h in row] for row in hits]


def bm25_search(client, name, questions: list[str]) -> list[list[str]]:
    """Keyword search: raw question text against the BM25 sparse field."""
    hits = client.search(
        collection_name=name,
        data=questions,
        anns_field="sparse",
        limit=K,
        output_fields=["topic"],
        search_params={"metric_type": "BM25"},
    )
    return [[h["entity"]["topic"] for h in row] for row in hits]


def hybrid_search(client, name, questions: list[str], query_vectors: np.ndarray) -> list[list[str]]:
    """Both at once, fused by reciprocal rank (RRF)."""
    found = []
    for text, vector in zip(questions, query_vectors):
        requests = [
            AnnSearchRequest(
                data=[vector.tolist()],
                anns_field="embedding",
                limit=K,
                param={"metric_type": "COSINE", "params": {"ef": 64}},
            ),
            AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=K),
        ]
        row = client.hybrid_search(
            collection_name=name, reqs=requests, ranker=RRFRanker(60), limit=K, output_fields=["topic"]
        )[0]
        found.append([h["entity"]["topic"] for h in row])
    return found


# docs:end


# %% [markdown]
# ## BM25 in NumPy, for engines without it


# %%
def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class NumpyBM25:
    """Okapi BM25 (k1=1.2, b=0.75), the formula Milvus uses, for engines without BM25."""

    def __init__(self, passages: list[dict], k1: float = 1.2, b: float = 0.75):
        self.topics = [p["topic"] for p in passages]
        self.docs = [Counter(tokens(p["text"])) for p in passages]
        self.lengths = np.array([sum(d.values()) for d in self.docs], dtype=float)
        df = Counter(t for d in self.docs for t in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def search(self, questions: list[str]) -> list[list[str]]:
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.lengths.mean())
        found = []
        for q in questions:
            scores = np.zeros(len(self.docs))
            for term in set(tokens(q)) & self.idf.keys():
                tf = np.array([d.get(term, 0) for d in self.docs], dtype=float)
                scores += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            found.append([self.topics[i] for i in np.argsort(-scores, kind="stable")[:K]])
        return found


# %% [markdown]
# ## Measuring: hit@1, hit@5, MRR@10


# %%
def quality(found: list[list[str]], relevant: list[set[str]]) -> dict:
    """hit@1, hit@5 and MRR@10: rank of the first passage from a relevant section."""
    ranks = [next((r for r, topic in enumerate(row, 1) if topic in rel), None) for row, rel in zip(found, relevant)]
    return {
        "hit@1": float(np.mean([r == 1 for r in ranks])),
        "hit@5": float(np.mean([r is not None and r <= 5 for r in ranks])),
        "MRR": float(np.mean([1 / r if r else 0.0 for r in ranks])),
    }


def evaluate(client, name, info, bm25_fallback, questions, relevant, cache) -> dict[str, dict]:
    """``bm25_fallback`` is None when the collection has Milvus' own BM25 field."""
    vectors = cache.encode(questions, progress=False)
    results = {"dense (MiniLM, HNSW)": quality(dense_search(client, name, vectors), relevant)}
    if bm25_fallback is None:
        results["keyword (Milvus BM25)"] = quality(bm25_search(client, name, questions), relevant)
    else:
        results["keyword (NumPy BM25)"] = quality(bm25_fallback.search(questions), relevant)
    if bm25_fallback is None and info.has("hybrid_search"):
        results["hybrid (dense + BM25, RRF)"] = quality(hybrid_search(client, name, questions, vectors), relevant)
    return results


def show_examples(client, cache, questions: list[dict]) -> None:
    for question in questions:
        hit = client.search(
            collection_name=DOCS,
            data=cache.encode([question["q"]], progress=False).tolist(),
            anns_field="embedding",
            limit=1,
            output_fields=["topic", "text"],
        )[0][0]
        topic = hit["entity"]["topic"]
        verdict = (
            "right section"
            if topic in question["topics"]
            else f"miss: the answer is in {', '.join(question['topics'])}"
        )
        print(
            f"Q: {question['q']}\n   → [{topic}] {hit['entity']['text'][:100]}...  (cosine {hit['distance']:.3f}; "
            f"{verdict})"
        )


# %% [markdown]
# ## The sections


# %%
def build_all(client, info, docs: tuple, faq: tuple) -> tuple[bool, str | None]:
    """Both collections, with Milvus' BM25 where the engine has it; (BM25 used?, the engine's refusal if any)."""
    use_bm25 = info.has("bm25")
    try:
        with quiet_pymilvus():  # a refusal is reported by the caller; pymilvus would also log a traceback
            build(client, info, DOCS, *docs, use_bm25)
            build(client, info, FAQ, *faq, use_bm25)
        return use_bm25, None
    except MilvusException as exc:  # only when the engine was described as newer than it is
        refused = info.refusal(exc)
        build(client, info, DOCS, *docs, False)
        build(client, info, FAQ, *faq, False)
        return False, refused


def encode_all(cache, passages, faq, batch_size: int) -> tuple[np.ndarray, np.ndarray, dict]:
    heading(f"2. Embed and index {len(passages)} reference passages and {len(faq)} FAQ entries")
    with Stopwatch() as encode_time:
        doc_vectors = cache.encode([p["text"] for p in passages], batch_size=batch_size)
        encoding = {"texts": len(passages) + len(faq), "encoded now": cache.misses, "from cache": cache.hits}
        faq_vectors = cache.encode([e["text"] for e in faq], batch_size=batch_size)
        encoding["encoded now"] += cache.misses
        encoding["from cache"] += cache.hits
    # identical passages (the reference repeats some text) are encoded once
    encoding["duplicates"] = encoding["texts"] - encoding["encoded now"] - encoding["from cache"]
    encoding["seconds"] = encode_time.seconds
    table([encoding])
    return doc_vectors, faq_vectors, encoding


def measure(client, info, cache, passages, faq, doc_questions, use_bm25: bool) -> dict:
    heading("3. FAQ: held-out paraphrases (the real test) and the original questions")
    relevant = [{e["topic"]} for e in faq]
    faq_bm25, doc_bm25 = (None, None) if use_bm25 else (NumpyBM25(faq), NumpyBM25(passages))
    paraphrased = evaluate(client, FAQ, info, faq_bm25, [e["paraphrase"] for e in faq], relevant, cache)
    original = evaluate(client, FAQ, info, faq_bm25, [e["question"] for e in faq], relevant, cache)
    table(
        [{"questions": "paraphrased (held out)", "retriever": r, **m} for r, m in paraphrased.items()]
        + [{"questions": "original wording", "retriever": r, **m} for r, m in original.items()]
    )
    heading(f"4. Python reference: {len(doc_questions)} questions → the section that answers them")
    docs = evaluate(
        client, DOCS, info, doc_bm25, [q["q"] for q in doc_questions], [set(q["topics"]) for q in doc_questions], cache
    )
    table([{"retriever": r, **m} for r, m in docs.items()])
    show_examples(client, cache, [doc_questions[0], doc_questions[8]])
    return {"faq_paraphrased": paraphrased, "faq_original": original, "docs": docs}


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--chunk-words", type=cli.int_range(10, 2000), default=80)
    parser.add_argument("--overlap", type=cli.int_range(0, 1999), default=20)
    parser.add_argument("--batch-size", type=cli.int_range(1, 4096), default=64, help="texts per encoding batch")
    args = parser.parse_args(argv)
    passages = python_reference_passages(args.chunk_words, args.overlap)
    faq = faq_entries()
    doc_questions = json.loads((DATA / "python_doc_questions.json").read_text())
    verify_engine(args.uri)  # connect and get an answer now: a wrong or silent URI fails before a minute of encoding

    heading("1. The embedding model (offline) and the cache")
    with Stopwatch() as load_time:
        model = load_model()
    cache = EmbeddingCache(model)
    print(f"model {model.name}: {model.dim}-d, loaded in {load_time.seconds:.1f} s; cache {cache.path}")
    doc_vectors, faq_vectors, encoding = encode_all(cache, passages, faq, args.batch_size)

    with cli.engine(args.uri) as (client, info):
        with Stopwatch() as index_time:
            use_bm25, refused = build_all(client, info, (passages, doc_vectors), (faq, faq_vectors))
        print(
            f"insert + HNSW index + load: {index_time.seconds:.1f} s"
            + ("" if use_bm25 else f"; {refused or info.skip_reason('bm25')} → keyword baseline computed in NumPy")
        )
        results = measure(client, info, cache, passages, faq, doc_questions, use_bm25)
        latency = time_calls(
            lambda v: client.search(collection_name=DOCS, data=[v], anns_field="embedding", limit=K),
            doc_vectors[:100].tolist(),
            warmup=5,
        )
        print(
            f"\ndense search latency over {latency.calls} queries: p50 {latency.p50_ms:.1f} ms, p95 "
            f"{latency.p95_ms:.1f} ms"
        )
        drop_if_exists(client, DOCS, FAQ)

    result = summary(results, info, model, passages, faq, encoding, latency, use_bm25, refused)
    save_json("step03_text_search", result)
    return result


def summary(results, info, model, passages, faq, encoding, latency, use_bm25: bool, refused) -> dict:
    """The figures the lesson returns (the tests read them)."""
    paraphrased, docs = results["faq_paraphrased"], results["docs"]
    dense_key = "dense (MiniLM, HNSW)"
    keyword_key = next(k for k in paraphrased if k.startswith("keyword"))
    return {
        "headline": (
            f"FAQ held-out hit@5 {paraphrased[dense_key]['hit@5']:.2f} (dense) vs "
            f"{paraphrased[keyword_key]['hit@5']:.2f} (keyword); docs MRR {docs[dense_key]['MRR']:.2f}"
        ),
        "engine": info.kind,
        "model": model.name,
        "dim": model.dim,
        "passages": len(passages),
        "faq_entries": len(faq),
        "encoding": encoding,
        **results,
        "keyword_baseline": keyword_key,
        "latency": latency.as_dict(),
        "skipped": []
        if use_bm25 or refused
        else [f"bm25: {info.skip_reason('bm25')}", f"hybrid: {info.skip_reason('bm25')}"],
        "refused": [f"bm25: {refused}"] if refused else [],
    }


# %%
if __name__ == "__main__":
    cli.run(main)
