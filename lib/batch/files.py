"""Where a batch's rows come from and go to, a chunk at a time.

A location is a local path or an s3:// URI (Arrow's S3 filesystem: the usual AWS
variables, AWS_ENDPOINT_URL included, as boto3 reads them). Its format is its suffix:
.csv, or .parquet; a folder (or an S3 prefix) is a Parquet dataset, read part by part.
Nothing is read whole: a CSV in blocks of CSV_BLOCK_BYTES, a Parquet file by row group.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from lib.model.schema import FeatureSchema

CSV_BLOCK_BYTES = 8 * 1024 * 1024  # about 60,000 Telco rows a chunk
PARQUET_BATCH_ROWS = 65_536
FORMATS = ("csv", "parquet")
SEPARATORS = (",", ";", "\t", "|")


class BatchInputError(ValueError):
    """An input or output location the batch cannot use; the message says why."""

    kind = "unreadable_csv"  # how the prediction log counts the refusal of an upload


class MissingColumns(BatchInputError):
    """The input lacks a feature column: none of its rows can be scored."""

    kind = "invalid_input"


@dataclass(frozen=True)
class Location:
    uri: str
    filesystem: Any
    path: str

    @property
    def format(self) -> str | None:
        suffix = self.path.rsplit(".", 1)[-1].lower() if "." in self.path.rsplit("/", 1)[-1] else ""
        return suffix if suffix in FORMATS else None

    def child(self, name: str) -> Location:
        return Location(f"{self.uri.rstrip('/')}/{name}", self.filesystem, f"{self.path.rstrip('/')}/{name}")

    def name_in(self, dataset: Location) -> str:
        """This part's name within `dataset` (its file name when it is the input itself)."""
        prefix = dataset.path.rstrip("/") + "/"
        return self.path.removeprefix(prefix) if self.path.startswith(prefix) else self.path.rsplit("/", 1)[-1]


def locate(uri: str) -> Location:
    """A local path or s3:// URI as Arrow sees it."""
    try:
        if uri.startswith("s3://"):
            filesystem, path = pa_fs.FileSystem.from_uri(uri)
        else:
            filesystem, path = pa_fs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchInputError(f"{uri}: {str(exc).splitlines()[0][:200]}") from None
    return Location(uri, filesystem, path)


def parts(location: Location) -> list[Location]:
    """The files an input is made of: itself, or a dataset's .parquet parts in name order."""
    info = location.filesystem.get_file_info(location.path)
    if info.type == pa_fs.FileType.File:
        if location.format is None:
            raise BatchInputError(f"{location.uri}: name a .csv or .parquet file, or a folder of .parquet parts")
        return [location]
    if info.type != pa_fs.FileType.Directory and not location.uri.startswith("s3://"):
        raise BatchInputError(f"{location.uri}: no such file or folder")
    selector = pa_fs.FileSelector(location.path, recursive=True, allow_not_found=True)
    found = sorted(
        entry.path
        for entry in location.filesystem.get_file_info(selector)
        if entry.type == pa_fs.FileType.File and entry.path.endswith(".parquet")
    )
    if not found:
        raise BatchInputError(f"{location.uri}: no .parquet part in it")
    prefix = location.path.rstrip("/") + "/"
    return [location.child(path.removeprefix(prefix)) for path in found]


def read_chunks(location: Location, schema: FeatureSchema) -> Iterator[pa.Table]:
    """The rows of one file, a chunk at a time; every column as text for a CSV (a number
    that does not parse is named by the validation, not a reason to stop reading)."""
    if location.format == "csv":
        yield from _csv_chunks(location, schema)
    else:
        with location.filesystem.open_input_file(location.path) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                yield pa.Table.from_batches([batch])


def _csv_chunks(location: Location, schema: FeatureSchema) -> Iterator[pa.Table]:
    with location.filesystem.open_input_stream(location.path) as handle:
        head = handle.read(HEAD_BYTES)
    with location.filesystem.open_input_stream(location.path) as handle:
        try:
            yield from csv_chunks(handle, head, schema)
        except BatchInputError as exc:
            raise BatchInputError(f"{location.uri}: {exc}") from None


HEAD_BYTES = 64 * 1024  # enough for any header line the reader accepts


def csv_header(head: bytes) -> tuple[str, list[str]]:
    """The separator (the most frequent candidate on the header line, comma when none
    appears) and the column names; BatchInputError when the header is unusable."""
    if not head.strip():
        raise BatchInputError("the file is empty")
    line = head.split(b"\n", 1)[0].removeprefix(b"\xef\xbb\xbf").rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchInputError("the file is not UTF-8 text: save it as CSV UTF-8 and upload it again") from None
    separator = max(SEPARATORS, key=text.count)
    names = next(csv.reader([text], delimiter=separator)) if text else []
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        shown = ", ".join(name[:40] for name in duplicated[:20])
        raise BatchInputError(f"duplicate column names: {shown}{' and more' if len(duplicated) > 20 else ''}")
    return separator, names


def csv_chunks(stream: Any, head: bytes, schema: FeatureSchema) -> Iterator[pa.Table]:
    """A CSV stream's rows a chunk at a time (`head`: its first bytes, for the header):
    every column as text, categories as dictionaries (parsed and validated once per
    distinct value); a number that does not parse is named by the validation."""
    separator, names = csv_header(head)
    category = pa.dictionary(pa.int32(), pa.string())
    types = {column: pa.string() for column in names}
    types.update({spec.name: category for spec in schema.features if not spec.is_numeric and spec.name in types})
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(delimiter=separator),
            convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])
    except UnicodeDecodeError:
        raise BatchInputError("the file is not UTF-8 text: save it as CSV UTF-8 and upload it again") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).splitlines()[0][:300]
        raise BatchInputError(f"the file cannot be read as a CSV separated by {separator!r}: {reason}") from None


class ChunkWriter:
    """Output rows written as they come: CSV (header once) or Parquet (a row group per chunk)."""

    def __init__(self, location: Location, csv_eol: str = "\n") -> None:
        if location.format is None:
            raise BatchInputError(f"{location.uri}: the output must end in .csv or .parquet")
        self.location = location
        self.csv_eol = csv_eol  # "\r\n" for a spreadsheet (RFC 4180: a lone CR in a cell is quoted)
        parent = location.path.rsplit("/", 1)[0]
        if parent and not location.uri.startswith("s3://"):
            location.filesystem.create_dir(parent, recursive=True)
        self._stream = location.filesystem.open_output_stream(location.path)
        self._writer: Any = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.location.format == "csv":
                self._writer = pa_csv.CSVWriter(
                    self._stream, table.schema, write_options=pa_csv.WriteOptions(eol=self.csv_eol)
                )
            else:
                self._writer = pq.ParquetWriter(self._stream, table.schema)
        self._writer.write_table(table.cast(self._writer.schema) if self.location.format == "parquet" else table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._stream.close()
