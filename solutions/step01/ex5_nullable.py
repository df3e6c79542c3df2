"""Exercise 1.5 — nullable fields and default values (Milvus 2.5): a product whose price may be missing.

KO: 상품 컬렉션의 스키마를 만드세요. id: INT64 기본 키(auto_id 아님), name: VARCHAR(최대 40자),
    price: FLOAT, 값이 없을 수 있음(행이 price를 빼거나 None을 보내면 null, 즉 None으로 조회됨),
    stock: INT64, 행이 stock을 빼면 0으로 조회됨, embedding: FLOAT_VECTOR, 8차원. 채점기는 이 스키마로 컬렉션을
    만들고 모든 필드를 준 행, price를 빼거나 None을 보낸 행, stock을 뺀 행을 넣은 뒤 다시 조회해 값과
    `price IS NULL`이 고르는 행을 확인합니다(레슨 1.5).
EN: Build the schema of a products collection: id INT64 primary key (no auto_id), name VARCHAR (max 40),
    price FLOAT that may be missing (a row that leaves price out or sends None reads back null, i.e. None),
    stock INT64 that reads back 0 when a row leaves it out, embedding FLOAT_VECTOR of dimension 8. The grader
    creates a collection from it, inserts rows that give every field, leave price out or send None, leave stock
    out, then reads them back and checks the values and the rows `price IS NULL` selects (lesson 1.5).

Check it: make check EX=1.5
"""

from pymilvus import CollectionSchema, DataType, MilvusClient


def build_schema() -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field(field_name="id", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="name", datatype=DataType.VARCHAR, max_length=40)
    schema.add_field(field_name="price", datatype=DataType.FLOAT, nullable=True)
    schema.add_field(field_name="stock", datatype=DataType.INT64, default_value=0)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=8)
    return schema
