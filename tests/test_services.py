"""Smoke tests proving the real services that CI starts are there and usable."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import botocore.exceptions
import psycopg
import pytest


def test_postgres_database_accepts_a_table_and_rows(postgres_url: str) -> None:
    table = f"smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute(f"INSERT INTO {table} VALUES (1, 'one'), (2, 'two')")
        rows = conn.execute(f"SELECT name FROM {table} ORDER BY id").fetchall()
        server = conn.execute("SHOW server_version").fetchone()
    assert rows == [("one",), ("two",)]
    assert server is not None and server[0].startswith("15")


def test_s3_server_stores_and_returns_an_object(s3_client: Any, s3_bucket: str) -> None:
    client = s3_client
    body = uuid.uuid4().bytes * 1000
    client.put_object(Bucket=s3_bucket, Key="smoke/object.bin", Body=body)
    got = client.get_object(Bucket=s3_bucket, Key="smoke/object.bin")["Body"].read()
    assert got == body
    listed = client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["smoke/object.bin"]


def test_s3_server_refuses_a_request_signed_with_the_wrong_secret(
    s3_endpoint: str, s3_bucket: str
) -> None:
    stranger = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="guessed",
    )
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stranger.list_objects_v2(Bucket=s3_bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
