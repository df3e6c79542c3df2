# %% [markdown]
"""
Text match, phrase match and analyzers: exact term filters next to BM25 ranking, checked in Python.

What you learn
  - TEXT_MATCH (Milvus 2.5): a filter that keeps rows containing any of the query's terms, after the
    field's analyzer split both; the ids it returns compared with a Python scan of the same rows;
  - how it differs from BM25: text match selects (no score, every matching row), BM25 ranks (top-k by
    term weight); and text match as the filter of a vector search, against exact filtered NumPy results;
  - what the analyzer does to a sentence, shown by effect (which single words match a one-row
    collection), since ``run_analyzer`` needs a server that has it;
  - PHRASE_MATCH (Milvus 2.6) and search-result highlighting (LexicalHighlighter, Milvus 2.6.8) where the
    engine has them, the highlighted fragments checked against Python over the same rows; named skips elsewhere
    (multi-language analyzers are in 06_korean_text).

Prerequisites  04_filtered_and_hybrid
Run            python step02_core_features/05_text_match.py [--n 3000]
Docs           docs/step02_core_features.md, section "05 텍스트 매치와 분석기"
"""

# %%
from __future__ import annotations

import re

from common import cli
from common.connection import quiet_pymilvus
from common.report import heading, table
from common.rows import drop_if_exists

import grpc
import numpy as np
from pymilvus import DataType, Function, FunctionType, LexicalHighlighter, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l5_"
NOTES = PREFIX + "notes"
PROBE = PREFIX + "probe"
K = 10
WORDS = ["vector", "index", "graph", "search", "filter", "segment", "query", "shard", "replica", "token", "score"]
WORDS += ["recall", "latency", "memory", "disk", "cluster", "schema", "field", "partition", "embedding"]
SENTENCE = "Milvus 2.6's HNSW-index (fast!) re-ranks 3.5x more e-mail CANDIDATES"


# %% [markdown]
# ## The notes collection and the text-match calls


# %%
# docs:begin text_match
def create_notes(client, dim: int) -> None:
    """A text field with an analyzer and a term index (enable_match), a BM25 sparse field, and a vector."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(
        field_name="text",
        datatype=DataType.VARCHAR,
        max_length=512,
        enable_analyzer=True,  # split into terms by the analyzer (standard unless analyzer_params says)
        enable_match=True,  # keep an inverted index of the terms, which TEXT_MATCH reads
    )
    schema.add_field(field_name="sparse", datatype=DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    index_params.add_index(field_name="embedding", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, NOTES)
    client.create_collection(collection_name=NOTES, schema=schema, index_params=index_params)


def matching_ids(client, words: str) -> set[int]:
    """Every row holding at least one of ``words`` (space-separated terms): a filter, unranked."""
    rows = client.query(
        collection_name=NOTES,
        filter=f"TEXT_MATCH(text, '{words}')",  # OR over the terms; AND: TEXT_MATCH(...) and TEXT_MATCH(...)
        output_fields=["id"],
        limit=16384,
    )
    return {row["id"] for row in rows}


def vector_search_with_terms(client, query, words: str) -> list[int]:
    """Nearest neighbours among the rows that contain a term."""
    hits = client.search(
        collection_name=NOTES,
        data=[query],
        anns_field="embedding",
        filter=f"TEXT_MATCH(text, '{words}')",
        limit=K,
        search_params={"metric_type": "COSINE"},
    )[0]
    return [hit["id"] for hit in hits]


def phrase_ids(client, phrase: str, slop: int) -> set[int]:
    """Rows where the words appear in this order, with at most ``slop`` other words between (Milvus 2.6)."""
    rows = client.query(
        collection_name=NOTES, filter=f"PHRASE_MATCH(text, '{phrase}', {slop})", output_fields=["id"], limit=16384
    )
    return {row["id"] for row in rows}


# docs:end


# %% [markdown]
# ## Highlighting the matched terms (Milvus 2.6.8)


# %%
# docs:begin highlight
def highlighted(client, words: str) -> list[dict]:
    """A BM25 search whose hits also carry their text with the matched terms wrapped in tags (Milvus 2.6.8)."""
    highlighter = LexicalHighlighter(
        pre_tags=["{"],  # inserted before each matched term
        post_tags=["}"],  # ... and after it
        highlight_search_text=True,  # the terms to mark: the BM25 query's own (highlight_query= adds TEXT_MATCH ones)
        num_of_fragments=1,  # one fragment per hit; it starts at the first match and runs up to fragment_size (100)
    )
    hits = client.search(
        collection_name=NOTES,
        data=[words],
        anns_field="sparse",
        limit=K,
        search_params={"metric_type": "BM25"},
        output_fields=["text"],
        highlighter=highlighter,  # post-processing only: the hits and their order are those of the plain search
    )[0]
    # pymilvus puts the fragments under hit["highlight"][field]["fragments"]
    return [{"id": h["id"], "text": h["entity"]["text"], "highlight": h.get("highlight")} for h in hits]


# docs:end


# %% [markdown]
# ## Python's model of the analyzer and the highlighter, and the data


# %%
def python_highlight(text: str, words: str) -> str | None:
    """The fragment a highlighter should return for a short note: from the first match on, each match in {}."""
    terms = set(standard_terms(words))
    spans = [m for m in re.finditer(r"\w+", text) if m.group().lower() in terms]
    if not spans:
        return None
    pieces, position = [], spans[0].start()
    for match in spans:
        pieces += [text[position : match.start()], "{", match.group(), "}"]
        position = match.end()
    return "".join(pieces) + text[position:]


def standard_terms(text: str) -> list[str]:
    """Python's model of the standard analyzer, to check against: lower-cased runs of letters and digits."""
    return re.findall(r"\w+", text.lower())


def make_texts(n: int, rng) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=rng.integers(4, 9))) for _ in range(n)]


def load_notes(client, texts, vectors) -> None:
    create_notes(client, vectors.shape[1])
    client.insert(
        collection_name=NOTES,
        data=[{"id": i, "text": t, "embedding": v.tolist()} for i, (t, v) in enumerate(zip(texts, vectors))],
    )
    client.flush(collection_name=NOTES)
    client.load_collection(collection_name=NOTES)


# %% [markdown]
# ## Each section, checked against Python or NumPy


# %%
def match_checks(client, texts) -> list[dict]:
    """TEXT_MATCH against a Python scan; OR within one call, AND across two."""
    terms = [set(standard_terms(t)) for t in texts]
    rows = []
    for label, expr_words, want in (
        ("one term", ["shard"], lambda s: "shard" in s),
        ("two terms (OR)", ["shard replica"], lambda s: bool({"shard", "replica"} & s)),
        ("AND of two", ["shard", "replica"], lambda s: {"shard", "replica"} <= s),
        ("upper case query", ["SHARD"], lambda s: "shard" in s),
    ):
        got = set.intersection(*(matching_ids(client, w) for w in expr_words))
        expected = {i for i, s in enumerate(terms) if want(s)}
        rows.append(
            {
                "case": label,
                "words": " + ".join(expr_words),
                "matched": len(got),
                "Python": len(expected),
                "same ids": got == expected,
            }
        )
    return rows


def match_vs_bm25(client, texts) -> dict:
    """Same words: text match returns every row with one; BM25 returns the top K, scored."""
    words = "latency memory"
    matched = matching_ids(client, words)
    hits = client.search(
        collection_name=NOTES, data=[words], anns_field="sparse", limit=K, search_params={"metric_type": "BM25"}
    )[0]
    top = [h["id"] for h in hits]
    counts = [sum(standard_terms(texts[i]).count(w) for w in words.split()) for i in top]
    return {
        "words": words,
        "text match rows": len(matched),
        "BM25 hits": len(top),
        "BM25 hits all matched": set(top) <= matched,
        "query-term count of BM25 top 3": counts[:3],
    }


def filtered_vector(client, texts, vectors, queries) -> dict:
    words = "disk memory"
    allowed = np.array([i for i, t in enumerate(texts) if {"disk", "memory"} & set(standard_terms(t))])
    agree = []
    for q in queries:
        truth = allowed[np.argsort(-(vectors[allowed] @ q))[:K]].tolist()
        agree.append(vector_search_with_terms(client, q.tolist(), words) == truth)
    return {
        "filter": f"TEXT_MATCH(text, '{words}')",
        "rows allowed": len(allowed),
        "same top-10 as NumPy": float(np.mean(agree)),
    }


def analyzer_by_effect(client, info) -> dict:
    """The tokens of one sentence: which candidate words match a collection holding only that sentence."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(
        field_name="text", datatype=DataType.VARCHAR, max_length=512, enable_analyzer=True, enable_match=True
    )
    schema.add_field(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=2)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="v", index_type="FLAT", metric_type="L2")
    drop_if_exists(client, PROBE)
    client.create_collection(collection_name=PROBE, schema=schema, index_params=index_params)
    client.insert(collection_name=PROBE, data=[{"id": 1, "text": SENTENCE, "v": [0.0, 1.0]}])
    client.flush(collection_name=PROBE)
    client.load_collection(collection_name=PROBE)
    # if the analyzer splits on punctuation, every \w+ piece matches and no joined form ("hnswindex") does
    pieces = sorted(set(standard_terms(SENTENCE)))
    joined = sorted({re.sub(r"\W", "", w.lower()) for w in SENTENCE.split()} - set(pieces))

    def matches(word: str) -> bool:
        return bool(client.query(collection_name=PROBE, filter=f"TEXT_MATCH(text, '{word}')", output_fields=["id"]))

    matched = [p for p in pieces if matches(p)]
    joined_matched = [w for w in joined if matches(w)]
    drop_if_exists(client, PROBE)
    return {
        "sentence": SENTENCE,
        "tokens (by effect)": matched,
        "Python model": pieces,
        "joined forms": joined,
        "joined forms that match": joined_matched,
    }


def server_only(client, info, texts) -> dict:
    """phrase match, run_analyzer, the highlighter: run where the engine has them."""
    out = {}
    cases = {
        "phrase_match": lambda: len(phrase_ids(client, "vector index", 0)),
        "run_analyzer": lambda: client.run_analyzer(SENTENCE, analyzer_params={"tokenizer": "standard"}),
    }
    for capability, call in cases.items():
        try:
            with quiet_pymilvus():
                value = call()
        except (MilvusException, grpc.RpcError) as exc:  # a servicer without RunAnalyzer answers UNIMPLEMENTED
            said = (getattr(exc, "message", None) or exc.details()).strip().splitlines()[0][:120]
            if isinstance(exc, grpc.RpcError):
                said = f"{exc.code().name}: {said}"
                exc = MilvusException(message=said)
            out[capability] = (
                {"refused": info.refusal(exc)}
                if info.has(capability)
                else {"skipped": info.skip_reason(capability), "engine says": said}
            )
            continue
        out[capability] = (
            {"result": value}
            if info.has(capability)
            else {"skipped": info.skip_reason(capability), "engine says": f"answered {str(value)[:80]}"}
        )
    if "result" in out.get("phrase_match", {}):
        out["phrase_match"]["Python"] = sum("vector index" in t for t in texts)
    out["highlighter"] = highlight_check(client, info)
    return out


def highlight_check(client, info, words: str = "latency memory") -> dict:
    """Each hit's highlighted fragment against Python's over the same text; a named skip where the engine lacks it."""
    try:
        with quiet_pymilvus():
            hits = highlighted(client, words)
    except MilvusException as exc:
        if info.has("highlighter"):
            return {"refused": info.refusal(exc)}
        return {"skipped": info.skip_reason("highlighter"), "engine says": exc.message.strip().splitlines()[0][:120]}
    fragments = [((h["highlight"] or {}).get("text") or {}).get("fragments") for h in hits]
    if not any(fragments):  # accepted, and the hits came back without a highlight field
        said = "answered the search without a highlight field"
        if info.has("highlighter"):
            return {"refused": info.not_honoured(f"highlighter: {said}")}
        return {"skipped": info.skip_reason("highlighter"), "engine says": said}
    expected = [python_highlight(h["text"], words) for h in hits]
    return {
        "words": words,
        "hits": len(hits),
        "same fragment as Python": float(np.mean([f == [e] for f, e in zip(fragments, expected)])),
        "example": fragments[0][0] if fragments[0] else None,
    }


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument("--n", type=cli.int_range(200, 100_000), default=3000)
    parser.add_argument("--dim", type=cli.DIM, default=16)
    parser.add_argument("--queries", type=cli.int_range(1, 1000), default=10)
    parser.add_argument("--seed", type=cli.SEED, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    texts = make_texts(args.n, rng)
    vectors = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    with cli.engine(args.uri) as (client, info):
        if not info.has("text_match"):
            print(info.skip_reason("text_match"))
            return finish(info, {"text_match": {"skipped": info.skip_reason("text_match")}})
        try:
            with quiet_pymilvus():
                load_notes(client, texts, vectors)
        except MilvusException as exc:
            drop_if_exists(client, NOTES)
            refused = info.refusal(exc)
            print(refused)
            return finish(info, {"text_match": {"refused": refused}})
        results = sections(client, info, texts, vectors, queries)
        drop_if_exists(client, NOTES)
    return finish(info, results)


def sections(client, info, texts, vectors, queries) -> dict:
    heading("1. TEXT_MATCH against a Python scan of the same rows")
    checks = match_checks(client, texts)
    table(checks)
    heading("2. Text match selects, BM25 ranks")
    versus = match_vs_bm25(client, texts)
    table([versus])
    heading("3. Text match as the filter of a vector search (vs exact NumPy)")
    filtered = filtered_vector(client, texts, vectors, queries)
    table([filtered])
    heading("4. What the standard analyzer makes of a sentence (by effect)")
    tokens = analyzer_by_effect(client, info)
    print(f"{tokens['sentence']!r}\n  single words that match: {tokens['tokens (by effect)']}")
    print(f"  joined forms {tokens['joined forms']} that match: {tokens['joined forms that match'] or 'none'}")
    heading("5. Phrase match, run_analyzer, highlighting")
    later = server_only(client, info, texts)
    for name, row in later.items():
        print(f"{name}: {row}")
    return {"text_match": {"checks": checks}, "versus_bm25": versus, "filtered": filtered, "tokens": tokens, **later}


def finish(info, results: dict) -> dict:
    names = [k for k, v in results.items() if isinstance(v, dict)]
    skipped = [f"{n}: {results[n]['skipped']}" for n in names if "skipped" in results[n]]
    refused = [f"{n}: {results[n]['refused']}" for n in names if "refused" in results[n]]
    checks = results["text_match"].get("checks", [])
    headline = (
        f"text match: {sum(c['same ids'] for c in checks)}/{len(checks)} cases select the same ids as Python"
        if checks
        else (results["text_match"].get("skipped") or results["text_match"].get("refused"))
    )
    return {"headline": headline, "engine": info.kind, **results, "skipped": skipped, "refused": refused}


# %%
if __name__ == "__main__":
    cli.run(main)
