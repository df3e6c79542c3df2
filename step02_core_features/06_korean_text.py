# %% [markdown]
"""
Korean text search: morphemes vs whitespace words vs an English-only embedding model, on held-out questions.

What you learn
  - why Korean needs its own tokenizer: particles and endings stick to words ("컬렉션은", "컬렉션을"), so
    splitting on spaces makes one word many different tokens and BM25 misses the match;
  - a Korean analyzer inside Milvus (lindera with ko-dic, documented for Milvus 2.6) where the engine has
    one, and otherwise Korean morphemes from kiwipiepy (client side) stored as BM25-weighted sparse vectors;
  - one text field for two languages (multi_analyzer_params, Milvus 2.5.11): a language field picks the
    Korean or the English analyzer per row; run where the engine has both, a named skip elsewhere;
  - that the English all-MiniLM-L6-v2 model cannot stand in for a Korean one, measured;
  - hit@1, hit@5 and MRR of each method on 40 held-out paraphrased questions (a corpus of 66 short
    passages about Milvus, written in Korean for this course: step02_core_features/data/);
  - VARCHAR max_length counts bytes on a server: one Hangul syllable is 3 bytes in UTF-8.

Prerequisites  05_text_match; `pip install kiwipiepy kiwipiepy-model` (in requirements.txt)
Run            python step02_core_features/06_korean_text.py [--questions 40]
Docs           docs/step02_core_features.md, section "06 한국어 텍스트 검색"
"""

# %%
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

from common import cli
from common.connection import quiet_pymilvus, verify_engine
from common.embeddings import EmbeddingCache, cached_vectors, load_model
from common.errors import MissingModel
from common.metrics import Stopwatch
from common.report import heading, table
from common.rows import drop_if_exists

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

PREFIX = "s2_l6_"
KO_DOCS = PREFIX + "ko_docs"
KO_ANALYZED = PREFIX + "ko_analyzed"
BYTES = PREFIX + "bytes"
MIXED = PREFIX + "mixed"
# English rows beside the Korean passages; "shard" finds the first only if the English analyzer stems "Shards"
ENGLISH = ["Shards split a collection across query nodes.", "A replica keeps a copy of each segment in memory."]
EN_IDS = [1000, 1001]
DATA = Path(__file__).resolve().parent / "data"
K = 10
K1, B = 1.2, 0.75  # BM25's usual constants (Milvus' BM25 function uses the same defaults)
CONTENT_TAGS = ("NN", "NR", "NP", "VV", "VA", "XR", "SL", "SN", "SH", "MAG")  # nouns, verbs, roots, Latin, numbers


# %% [markdown]
# ## The data and Korean morphemes


# %%
def read_tsv(name: str) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line]


# docs:begin morphemes
def korean_tokenizer():
    """kiwipiepy's Kiwi: a Korean morphological analyser whose model ships in the kiwipiepy-model wheel."""
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        raise MissingModel("kiwipiepy is not installed; run: pip install kiwipiepy kiwipiepy-model") from None
    kiwi = Kiwi()

    def morphemes(text: str) -> list[str]:
        # "컬렉션을 만들면" -> 컬렉션/NNG 을/JKO 만들/VV 면/EC: keep content morphemes, drop particles and endings
        return [t.form.lower() for t in kiwi.tokenize(text) if t.tag.startswith(CONTENT_TAGS)]

    return morphemes


def bm25_sparse(docs: list[list[str]]) -> tuple[list[dict], dict, callable]:
    """BM25 document vectors {term id: weight}; a query vector has 1 per query term, so IP = the BM25 score."""
    vocab = {term: i for i, term in enumerate(sorted({t for d in docs for t in d}))}
    df = Counter(t for d in docs for t in set(d))
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in vocab}
    vectors = []
    for d in docs:
        tf = Counter(d)
        norm = K1 * (1 - B + B * len(d) / avgdl)
        vectors.append({vocab[t]: idf[t] * f * (K1 + 1) / (f + norm) for t, f in tf.items()})

    def query_vector(terms: list[str]) -> dict:
        return {vocab[t]: 1.0 for t in set(terms) if t in vocab}  # a term no passage has cannot match

    return vectors, vocab, query_vector


def create_ko_docs(client, dim: int) -> None:
    """The client-side morphemes as a SPARSE_FLOAT_VECTOR, next to a dense embedding of the same passage."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=1024)  # bytes on a server
    schema.add_field(field_name="morphemes", datatype=DataType.SPARSE_FLOAT_VECTOR)  # {term id: BM25 weight}
    schema.add_field(field_name="dense", datatype=DataType.FLOAT_VECTOR, dim=dim)
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="morphemes", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    index_params.add_index(field_name="dense", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, KO_DOCS)
    client.create_collection(collection_name=KO_DOCS, schema=schema, index_params=index_params)


# docs:end


# %% [markdown]
# ## BM25 inside the engine: its own analyzer


# %%
# docs:begin analyzer
def create_analyzed(client, analyzer: dict) -> None:
    """BM25 inside Milvus: the engine's analyzer splits the text, the BM25 function fills the sparse field."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(
        field_name="text",
        datatype=DataType.VARCHAR,
        max_length=1024,
        enable_analyzer=True,
        analyzer_params=analyzer,  # {"tokenizer": "standard"} or Korean: lindera with the ko-dic dictionary
    )
    schema.add_field(field_name="sparse", datatype=DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    drop_if_exists(client, KO_ANALYZED)
    client.create_collection(collection_name=KO_ANALYZED, schema=schema, index_params=index_params)


KOREAN_ANALYZER = {"tokenizer": {"type": "lindera", "dict_kind": "ko-dic"}}  # Milvus 2.6 docs: lindera tokenizer
# docs:end


# %% [markdown]
# ## One field, two languages (multi_analyzer_params, Milvus 2.5.11)


# %%
# docs:begin multi_analyzer
MULTI_ANALYZER = {
    "analyzers": {  # name -> analyzer_params, one per language
        "korean": KOREAN_ANALYZER,
        "english": {"type": "english"},  # built-in: standard tokenizer, lower case, English stemming and stop words
        "default": {"tokenizer": "standard"},  # required: for a language value that names no analyzer
    },
    "by_field": "language",  # the VARCHAR field whose value picks each row's analyzer
    "alias": {"ko": "korean", "en": "english"},  # other values the language field may hold
}


def create_mixed(client) -> None:
    """Korean and English rows in one text field; each row's ``language`` picks its analyzer (Milvus 2.5.11)."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="language", datatype=DataType.VARCHAR, max_length=16)  # "ko" or "en"
    schema.add_field(
        field_name="text",
        datatype=DataType.VARCHAR,
        max_length=1024,
        enable_analyzer=True,
        multi_analyzer_params=MULTI_ANALYZER,  # instead of analyzer_params: one analyzer per row, by language
    )
    schema.add_field(field_name="sparse", datatype=DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    drop_if_exists(client, MIXED)
    client.create_collection(collection_name=MIXED, schema=schema, index_params=index_params)


def mixed_search(client, queries: list[str], analyzer: str) -> list[list[int]]:
    """BM25 over the mixed field; the query text is split by the analyzer named here."""
    hits = client.search(
        collection_name=MIXED,
        data=queries,
        anns_field="sparse",
        limit=K,
        search_params={"metric_type": "BM25", "analyzer_name": analyzer},  # a name from "analyzers"
    )
    return [[h["id"] for h in q] for q in hits]


# docs:end


# %% [markdown]
# ## Measuring each method on the held-out questions


# %%
def quality(found: list[list[int]], answers: list[int]) -> dict:
    ranks = [ids.index(a) + 1 if a in ids else None for ids, a in zip(found, answers)]
    return {
        "hit@1": float(np.mean([r == 1 for r in ranks])),
        "hit@5": float(np.mean([r is not None and r <= 5 for r in ranks])),
        "MRR@10": float(np.mean([1 / r if r else 0.0 for r in ranks])),
    }


def search_ids(client, collection: str, field: str, queries: list, metric: str) -> list[list[int]]:
    hits = client.search(
        collection_name=collection, data=queries, anns_field=field, limit=K, search_params={"metric_type": metric}
    )
    return [[h["id"] for h in q] for q in hits]


def engine_bm25(client, info, passages, questions, answers, analyzer: dict, capability: str) -> dict:
    """BM25 with the engine's own analyzer: standard (Unicode words) or the Korean lindera one."""
    if not info.has(capability):
        reason = {"skipped": info.skip_reason(capability)}
        if capability == "korean_analyzer" and info.has("bm25"):  # what the engine says when asked anyway
            with quiet_pymilvus():
                try:
                    create_analyzed(client, analyzer)
                except MilvusException as exc:
                    reason["engine says"] = exc.message.strip().splitlines()[0][:120]
            drop_if_exists(client, KO_ANALYZED)
        return reason
    try:
        with quiet_pymilvus():
            create_analyzed(client, analyzer)
            client.insert(collection_name=KO_ANALYZED, data=[{"id": i, "text": t} for i, t in enumerate(passages)])
            client.flush(collection_name=KO_ANALYZED)
            client.load_collection(collection_name=KO_ANALYZED)
            found = search_ids(client, KO_ANALYZED, "sparse", questions, "BM25")
    except MilvusException as exc:
        drop_if_exists(client, KO_ANALYZED)
        return {"refused": info.refusal(exc)}
    drop_if_exists(client, KO_ANALYZED)
    return quality(found, answers)


def multi_language(client, info, passages, questions, answers) -> dict:
    """The Korean questions against one field holding both languages, and an English stemming check."""
    missing = next((c for c in ("multi_analyzer", "korean_analyzer") if not info.has(c)), None)
    if not info.has("bm25"):  # no BM25 function at all (2.3): nothing to ask
        return {"skipped": info.skip_reason(missing)}
    rows = [{"id": i, "language": "ko", "text": t} for i, t in enumerate(passages)]
    rows += [{"id": i, "language": "en", "text": t} for i, t in zip(EN_IDS, ENGLISH)]
    try:
        with quiet_pymilvus():
            create_mixed(client)
            kept = "multi_analyzer_params" in json.dumps(client.describe_collection(collection_name=MIXED), default=str)
            client.insert(collection_name=MIXED, data=rows)
            client.flush(collection_name=MIXED)
            client.load_collection(collection_name=MIXED)
            found = mixed_search(client, questions, "korean")
            shard = mixed_search(client, ["shard"], "english")[0]
    except MilvusException as exc:
        drop_if_exists(client, MIXED)
        if missing is None:
            return {"refused": info.refusal(exc)}
        return {"skipped": info.skip_reason(missing), "engine says": exc.message.strip().splitlines()[0][:120]}
    drop_if_exists(client, MIXED)
    stems = bool(shard) and shard[0] == EN_IDS[0]
    if missing is not None:  # sent anyway: what the engine did with it, by effect
        said = f"accepted; describe_collection {'keeps' if kept else 'drops'} multi_analyzer_params"
        said += ", 'shard' finds 'Shards' (English stemming)" if stems else ", 'shard' misses 'Shards' (no stemming)"
        return {"skipped": info.skip_reason(missing), "engine says": said}
    return {**quality(found, answers), "english check": f"'shard' finds 'Shards': {stems}", "stems": stems}


# %% [markdown]
# ## VARCHAR length in bytes


# %%
def byte_lengths(client, info) -> dict:
    """VARCHAR max_length: 100 Hangul syllables are 100 characters but 300 UTF-8 bytes."""
    text = "가" * 100
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="text", datatype=DataType.VARCHAR, max_length=200)
    schema.add_field(field_name="v", datatype=DataType.FLOAT_VECTOR, dim=4)
    drop_if_exists(client, BYTES)
    client.create_collection(collection_name=BYTES, schema=schema)
    with quiet_pymilvus():
        try:
            client.insert(collection_name=BYTES, data=[{"id": 1, "text": text, "v": [0.1, 0.2, 0.3, 0.4]}])
            outcome = "accepted (characters counted)"
        except MilvusException as exc:
            outcome = "refused: " + exc.message.strip().splitlines()[0][:100]
    drop_if_exists(client, BYTES)
    return {"characters": len(text), "UTF-8 bytes": len(text.encode()), "max_length": 200, "insert": outcome}


# %% [markdown]
# ## Client-side morphemes and the dense model


# %%
def client_side(client, info, passages, questions, answers, dense) -> dict:
    """Kiwi morphemes as sparse vectors (where the engine has them) and the dense MiniLM search."""
    doc_vectors, query_vectors = dense
    results = {}
    morphemes = korean_tokenizer()
    with Stopwatch() as tokenise:
        doc_terms = [morphemes(p) for p in passages]
        query_terms = [morphemes(q) for q in questions]
    sparse, vocab, query_vector = bm25_sparse(doc_terms)
    name = "BM25 over Kiwi morphemes (sparse field)"
    dense_found = None
    if not info.has("sparse_vector"):
        results[name] = {"skipped": info.skip_reason("sparse_vector")}
    else:
        try:
            with quiet_pymilvus():
                create_ko_docs(client, doc_vectors.shape[1])
            rows = [
                {"id": i, "text": t, "morphemes": s, "dense": v.tolist()}
                for i, (t, s, v) in enumerate(zip(passages, sparse, doc_vectors))
            ]
            client.insert(collection_name=KO_DOCS, data=rows)
            client.flush(collection_name=KO_DOCS)
            client.load_collection(collection_name=KO_DOCS)
            found = search_ids(client, KO_DOCS, "morphemes", [query_vector(t) for t in query_terms], "IP")
            results[name] = quality(found, answers)
            dense_found = search_ids(client, KO_DOCS, "dense", query_vectors.tolist(), "COSINE")
        except MilvusException as exc:
            drop_if_exists(client, KO_DOCS)
            results[name] = {"refused": info.refusal(exc)}
    if dense_found is None:  # an engine without sparse vectors (2.3) still runs the dense search
        dense_found = dense_only(client, doc_vectors, query_vectors)
    results["dense all-MiniLM-L6-v2 (English model)"] = quality(dense_found, answers)
    drop_if_exists(client, KO_DOCS)
    example = questions[0]
    return results, {
        "example question": example,
        "words (split on spaces)": example.split(),
        "Kiwi morphemes": morphemes(example),
        "vocabulary": len(vocab),
        "tokenise s": round(tokenise.seconds, 2),
    }


def dense_only(client, doc_vectors, query_vectors) -> list[list[int]]:
    """An engine without sparse vectors (2.3) still runs the dense search."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="dense", datatype=DataType.FLOAT_VECTOR, dim=doc_vectors.shape[1])
    index_params = MilvusClient.prepare_index_params()
    index_params.add_index(field_name="dense", index_type="FLAT", metric_type="COSINE")
    drop_if_exists(client, KO_DOCS)
    client.create_collection(collection_name=KO_DOCS, schema=schema, index_params=index_params)
    client.insert(collection_name=KO_DOCS, data=[{"id": i, "dense": v.tolist()} for i, v in enumerate(doc_vectors)])
    client.flush(collection_name=KO_DOCS)
    client.load_collection(collection_name=KO_DOCS)
    return search_ids(client, KO_DOCS, "dense", query_vectors.tolist(), "COSINE")


def embed(passages: list[str], questions: list[str]) -> tuple[str, str, tuple[np.ndarray, np.ndarray]]:
    """Dense vectors of both sets: from the cache when it holds them all (the model is not even imported), else
    encoded by the model and cached for the next run."""
    cached = cached_vectors(passages + questions)
    if cached is not None:
        name, vectors = cached
        source = "from the cache (model not loaded)"
    else:
        cache = EmbeddingCache(load_model())
        name, vectors, source = cache.model.name, cache.encode(passages + questions, progress=False), "encoded"
    return name, source, (vectors[: len(passages)], vectors[len(passages) :])


# %% [markdown]
# ## Run the sections in order


# %%
def main(argv=None) -> dict:
    parser = cli.lesson_parser(__doc__)
    parser.add_argument(
        "--questions", type=cli.int_range(1, 40), default=40, help="how many of the 40 held-out questions to ask"
    )
    args = parser.parse_args(argv)
    passages_tsv, questions_tsv = read_tsv("ko_passages.tsv"), read_tsv("ko_questions.tsv")[: args.questions]
    ids = [pid for pid, _ in passages_tsv]
    passages = [text for _, text in passages_tsv]
    questions = [text for _, text in questions_tsv]
    answers = [ids.index(pid) for pid, _ in questions_tsv]
    verify_engine(args.uri)  # a wrong or silent URI fails now, before the model loads and encodes
    model_name, source, dense = embed(passages, questions)
    with cli.engine(args.uri) as (client, info):
        heading(f"1. {len(passages)} Korean passages, {len(questions)} held-out questions")
        print(f"dense model: {model_name} ({dense[0].shape[1]}-d), trained on English text; vectors {source}")
        methods = {
            "BM25, engine standard analyzer (words)": engine_bm25(
                client, info, passages, questions, answers, {"tokenizer": "standard"}, "bm25"
            ),
            "BM25, engine Korean analyzer (lindera ko-dic)": engine_bm25(
                client, info, passages, questions, answers, KOREAN_ANALYZER, "korean_analyzer"
            ),
        }
        methods["BM25, one field, analyzer by language (ko/en)"] = multi_language(
            client, info, passages, questions, answers
        )
        measured, tokens = client_side(client, info, passages, questions, answers, dense)
        methods.update(measured)
        heading("2. What changes for Korean: tokens and bytes")
        table([{k: (" ".join(v) if isinstance(v, list) else v) for k, v in tokens.items()}])
        sizes = byte_lengths(client, info)
        table([sizes])
    return report(info, methods, tokens, sizes)


def report(info, methods: dict, tokens: dict, sizes: dict) -> dict:
    heading("3. hit@1 / hit@5 / MRR@10 on the held-out Korean questions")
    table(
        [
            {"method": name, **{k: v for k, v in row.items() if k in ("hit@1", "hit@5", "MRR@10")}}
            | {"note": row.get("skipped") or row.get("refused") or ""}
            for name, row in methods.items()
        ]
    )
    for name, row in methods.items():
        if "engine says" in row:
            print(f"{name}, asked anyway: {row['engine says']}")
        if "english check" in row:
            print(f"{name}: {row['english check']}")
    kiwi = methods["BM25 over Kiwi morphemes (sparse field)"]
    dense = methods["dense all-MiniLM-L6-v2 (English model)"]
    skipped = [f"{name}: {row['skipped']}" for name, row in methods.items() if "skipped" in row]
    refused = [f"{name}: {row['refused']}" for name, row in methods.items() if "refused" in row]
    headline = f"MRR@10: English MiniLM {dense['MRR@10']:.2f}" + (
        f", Kiwi morphemes {kiwi['MRR@10']:.2f}" if "MRR@10" in kiwi else ""
    )
    return {
        "headline": headline,
        "engine": info.kind,
        "methods": methods,
        "tokens": tokens,
        "bytes": sizes,
        "skipped": skipped,
        "refused": refused,
    }


# %%
if __name__ == "__main__":
    cli.run(main)
