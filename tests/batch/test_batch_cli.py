"""`python -m lib.batch` (issue 17): a CSV or a Parquet dataset, local or on S3 (moto's
server over HTTP), streamed in chunks, in this process or on a Dask LocalCluster of two
worker processes; every row accounted for, the same probabilities as score_batch."""

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lib.batch.files
from lib.batch.__main__ import main
from lib.model.inference import score_batch
from lib.model_loader import load_model
from lib.serving.csv_io import read_csv_bytes
from lib.settings import PROJECT_ROOT
from tests.helpers import clone_version, new_bucket

TELCO_CSV = PROJECT_ROOT / "data" / "telco-customer-churn.csv"


@pytest.fixture
def spoiled_csv(tmp_path, telco_model):
    """The Telco data with a few rows no model can score (a text for a number, an empty
    required value, an unknown category where the schema is closed)."""
    frame = pd.read_csv(TELCO_CSV, dtype=str, keep_default_na=False)
    numeric = next(spec.name for spec in telco_model.schema.features if spec.is_numeric and not spec.nullable)
    frame.loc[5, numeric] = "twelve"
    frame.loc[700, numeric] = ""
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def expected_scores(model, raw: bytes) -> pd.DataFrame:
    """What the page's path gives the same bytes: score_batch on the whole table."""
    batch = score_batch(read_csv_bytes(raw, model.schema), model)
    return batch.table, {e.index for e in batch.errors}


def run_cli(*args: str, capsys) -> dict:
    assert main(list(args)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_csv_is_scored_in_chunks_every_row_accounted_for(spoiled_csv, tmp_path, registry_copy, monkeypatch, capsys):
    monkeypatch.setattr(lib.batch.files, "CSV_BLOCK_BYTES", 64 * 1024)  # many chunks
    model = load_model(str(registry_copy))
    out = tmp_path / "scored.csv"
    report = run_cli(str(spoiled_csv), str(out), "--model-uri", str(registry_copy), capsys=capsys)
    raw = spoiled_csv.read_bytes()
    table, refused = expected_scores(model, raw)
    scored = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert report["rows"] == len(scored) == raw.count(b"\n") - 1
    assert report["refused"] == len(refused) == 2 and report["scored"] == len(table)
    assert scored["row"].tolist() == list(range(len(scored)))  # in input order, across chunks
    assert set(scored.index[scored["error"].notna()]) == refused
    assert "twelve" in scored.loc[5, "error"]
    np.testing.assert_allclose(scored["probability"].dropna().to_numpy(), table["probability"].to_numpy(), atol=1e-9)
    assert scored["customerID"].tolist()[:3] == pd.read_csv(spoiled_csv, dtype=str)["customerID"].tolist()[:3]


def test_a_parquet_dataset_on_s3_is_scored_locally_and_on_a_dask_cluster(s3_env, registry_copy, telco_model, capsys):
    import boto3
    from dask.distributed import LocalCluster

    bucket = new_bucket()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    frame = read_csv_bytes(TELCO_CSV.read_bytes(), telco_model.schema)
    parts = np.array_split(np.arange(len(frame)), 4)
    for number, rows in enumerate(parts):
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame.iloc[rows].reset_index(drop=True), preserve_index=False), buffer)
        s3.put_object(Bucket=bucket, Key=f"customers/part-{number}.parquet", Body=buffer.getvalue())
    expected = score_batch(frame, telco_model).table["probability"].to_numpy()

    local = run_cli(
        f"s3://{bucket}/customers", f"s3://{bucket}/local.parquet", "--model-uri", str(registry_copy), capsys=capsys
    )
    written = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key="local.parquet")["Body"].read())).to_pandas()
    assert local["rows"] == len(written) == len(frame) and local["refused"] == 0
    assert written["part"].unique().tolist() == [f"part-{n}.parquet" for n in range(4)]
    np.testing.assert_allclose(written["probability"].to_numpy(), expected, rtol=0, atol=1e-9)

    from lib.batch.cluster import run_on_cluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report, tasks = run_on_cluster(
            telco_model, f"s3://{bucket}/customers", f"s3://{bucket}/scored", cluster.scheduler_address
        )
    assert report.rows == len(frame) and report.refused == 0 and len(tasks) == 4
    assert not any(task["sklearn_loaded"] for task in tasks)  # the workers scored without scikit-learn
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="scored/")["Contents"])
    assert keys == [f"scored/part-{n}.parquet" for n in range(4)]
    distributed = pd.concat(
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pandas() for key in keys
    )
    assert len(distributed) == len(frame)
    np.testing.assert_allclose(distributed["probability"].to_numpy(), expected, rtol=0, atol=1e-9)
    assert report.rows_per_s > 0


def test_a_named_version_scores_and_bad_inputs_are_refused_clearly(
    spoiled_csv, tmp_path, registry_copy, telco_model, capsys
):
    other = clone_version(registry_copy, telco_model.version, "20990101T000000Z-aaaaa1")
    assert other.exists()
    out = tmp_path / "scored.parquet"
    report = run_cli(
        str(spoiled_csv), str(out), "--model-uri", str(registry_copy), "--model-version", other.name, capsys=capsys
    )
    assert report["model_version"] == other.name and pq.read_table(out).num_rows == report["rows"]
    for args, message in (
        ([str(tmp_path / "none.csv"), str(out)], "no such file"),
        ([str(spoiled_csv), str(tmp_path / "folder")], "must be a .csv or .parquet file"),
        ([str(spoiled_csv), str(tmp_path / "out.txt")], "must be a .csv or .parquet file"),
    ):
        assert main([*args, "--model-uri", str(registry_copy)]) == 2
        assert message in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    pd.read_csv(spoiled_csv, dtype=str).drop(columns=["tenure"]).to_csv(missing, index=False)
    assert main([str(missing), str(out), "--model-uri", str(registry_copy)]) == 2
    assert "missing column" in capsys.readouterr().err
