"""Step 1, Milvus 2.5 nullable fields and default values: the products schema of exercise 1.5. Graded on Milvus
Lite; the embedded 2.3.5 server has no nullable fields and skips it by name (tests/test_exercises.py)."""

from tests.exercise_answers import Case

HEAD = "from pymilvus import CollectionSchema, DataType, FieldSchema, MilvusClient\n\n\ndef build_schema():\n"
SCHEMA = "    schema = MilvusClient.create_schema(auto_id=False)\n"
ID = "    schema.add_field(field_name='id', datatype=DataType.INT64, is_primary=True)\n"
NAME = "    schema.add_field(field_name='name', datatype=DataType.VARCHAR, max_length=40)\n"
PRICE = "    schema.add_field(field_name='price', datatype=DataType.FLOAT, nullable=True)\n"
STOCK = "    schema.add_field(field_name='stock', datatype=DataType.INT64, default_value=0)\n"
EMBEDDING = "    schema.add_field(field_name='embedding', datatype=DataType.FLOAT_VECTOR, dim=8)\n"
RETURN = "    return schema\n"


def answer(*fields: str, schema: str = SCHEMA) -> str:
    return HEAD + schema + "".join(fields) + RETURN


def changed(**fields: str) -> str:
    """The reference answer with some of its add_field lines replaced (an empty string drops the field)."""
    lines = {"id": ID, "name": NAME, "price": PRICE, "stock": STOCK, "embedding": EMBEDDING}
    lines.update(fields)
    return answer(*lines.values())


CASES = [
    Case(
        "1.5",
        "price not nullable",
        changed(price="    schema.add_field(field_name='price', datatype=DataType.FLOAT)\n"),
        expect="refused the rows leaving price out",
    ),
    Case(
        "1.5",
        "stock defaults to 1",
        changed(stock="    schema.add_field(field_name='stock', datatype=DataType.INT64, default_value=1)\n"),
        expect="rows leaving stock out read stock back as 1, expected 0",
    ),
    Case(
        "1.5",
        "stock nullable without a default",
        changed(stock="    schema.add_field(field_name='stock', datatype=DataType.INT64, nullable=True)\n"),
        expect="read stock back as None, expected 0",
    ),
    Case("1.5", "stock field missing", changed(stock=""), expect="field 'stock' is missing"),
    Case(
        "1.5",
        "price nullable with a default 0.0",
        changed(
            price="    schema.add_field(field_name='price', datatype=DataType.FLOAT, nullable=True,"
            " default_value=0.0)\n"
        ),
        expect="rows sending price as None read price back as 0.0, expected None (null)",
    ),
    Case(
        "1.5",
        "names cut at 16 characters",
        changed(name="    schema.add_field(field_name='name', datatype=DataType.VARCHAR, max_length=16)\n"),
        expect="refused the rows giving every field",
    ),
    Case(
        "1.5",
        "an extra field every row must give",
        changed(
            embedding=EMBEDDING + "    schema.add_field(field_name='brand', datatype=DataType.VARCHAR, max_length=20)\n"
        ),
        expect="refused the rows",
    ),
    Case(
        "1.5",
        "price as DOUBLE",
        changed(price="    schema.add_field(field_name='price', datatype=DataType.DOUBLE, nullable=True)\n"),
        expect="field 'price' is DOUBLE, expected FLOAT",
    ),
    Case(
        "1.5",
        "no return",
        HEAD + SCHEMA + ID + NAME + PRICE + STOCK + EMBEDDING,
        expect="returned None, expected a CollectionSchema",
    ),
    Case("1.5", "fields in another order", answer(EMBEDDING, STOCK, ID, PRICE, NAME)),
    Case(
        "1.5",
        "stock nullable with a default 0",
        changed(
            stock="    schema.add_field(field_name='stock', datatype=DataType.INT64, nullable=True, default_value=0)\n"
        ),
    ),
    Case(
        "1.5",
        "extra fields a row may leave out",
        changed(
            embedding=EMBEDDING
            + "    schema.add_field(field_name='brand', datatype=DataType.VARCHAR, max_length=20, nullable=True)\n"
            + "    schema.add_field(field_name='rating', datatype=DataType.DOUBLE, nullable=True)\n"
            + "    schema.add_field(field_name='on_sale', datatype=DataType.BOOL, default_value=False)\n"
        ),
    ),
    Case(
        "1.5",
        "longer names allowed, dynamic fields on",
        changed(name="    schema.add_field(field_name='name', datatype=DataType.VARCHAR, max_length=512)\n").replace(
            "create_schema(auto_id=False)", "create_schema(auto_id=False, enable_dynamic_field=True)"
        ),
    ),
    Case(
        "1.5",
        "the ORM classes instead of create_schema",
        HEAD
        + "    return CollectionSchema(\n"
        + "        [\n"
        + "            FieldSchema('id', DataType.INT64, is_primary=True, auto_id=False),\n"
        + "            FieldSchema('name', DataType.VARCHAR, max_length=64),\n"
        + "            FieldSchema('price', DataType.FLOAT, nullable=True),\n"
        + "            FieldSchema('stock', DataType.INT64, default_value=0),\n"
        + "            FieldSchema('embedding', DataType.FLOAT_VECTOR, dim=8),\n"
        + "        ]\n"
        + "    )\n",
    ),
]
