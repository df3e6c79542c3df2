"""Exercise 1.1 — a schema with given fields.

KO: 아래 필드를 가진 컬렉션 스키마를 만드세요. id: INT64 기본 키(auto_id 아님), title: VARCHAR(최대 200자),
    embedding: FLOAT_VECTOR, 32차원. 채점기는 이 스키마로 컬렉션을 만들고 50행을 넣어 셉니다.
EN: Build a collection schema with: id INT64 primary key (no auto_id), title VARCHAR (max 200),
    embedding FLOAT_VECTOR of dimension 32. The grader creates a collection from it, inserts 50 rows, counts them.

Check it: make check EX=1.1
"""

from pymilvus import CollectionSchema, DataType, MilvusClient


def build_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="title", datatype=DataType.VARCHAR, max_length=200)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=32)
    return schema
