"""Local copies of datasets, read row by row: ``save_to_disk`` folders, Parquet/Arrow files, JSONL.

``open_split(path, split)`` finds the data of one split and returns a :class:`Table`: random
access to raw records plus the file to name in messages. ``read_rows`` shuffles by seed,
converts records one by one, skips and counts bad ones, and fails above the allowed fraction.
"""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modomodo import DatasetError, LoadRequest, Row

logger = logging.getLogger("modomodo_plugins.paper_datasets")

DATA_SUFFIXES = (".parquet", ".arrow", ".jsonl")
REPORTED_BAD_ROWS = 5


class BadRow(Exception):
    """A record that cannot become a row; the message says what is wrong with it."""


class Table:
    """Raw records of one split, addressable by index."""

    def __init__(self, location: Path, count: int, fetch: Callable[[int], dict], base_dir: Path,
                 columns: set[str] | None, line_numbers: bool = False):
        self.location = location
        self.count = count
        self._fetch = fetch
        self.base_dir = base_dir
        self.columns = columns  # known up front for tables; None for JSONL
        self.line_numbers = line_numbers

    def record(self, index: int) -> dict:
        return self._fetch(index)

    def where(self, index: int) -> str:
        return f"line {index + 1}" if self.line_numbers else f"row {index}"


def open_split(path: str | None, split: str, source: str) -> Table:
    """The data of ``split`` under ``path``: a DatasetDict folder, a folder of split files, or the split itself."""
    if not path:
        raise DatasetError(
            f"{source}: no path given; set path to a local copy (a datasets.save_to_disk folder, "
            f"Parquet/Arrow files or JSONL with image paths; see docs/datasets.md)"
        )
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{source}: {root}: no such file or folder")
    if root.is_file():
        return _open_files([root], source)
    if (root / "dataset_dict.json").exists():
        return _open_saved(root, source, split)
    if (root / "state.json").exists():
        return _open_saved(root, source, None)
    for candidate in (root / split, root / "data" / split):
        if candidate.is_dir():
            return open_split(str(candidate), split, source)
    for folder in (root, root / "data"):
        named = sorted(f for f in folder.glob(f"{split}*") if f.suffix in DATA_SUFFIXES and _is_split_file(f, split))
        if named:
            return _open_files(named, source)
    files = sorted(f for f in root.iterdir() if f.suffix in DATA_SUFFIXES)
    if not files:
        raise DatasetError(
            f"{source}: {root}: no data for split {split!r}: expected a save_to_disk folder, a {split}/ folder, "
            f"{split}.parquet / {split}.jsonl / {split}-*.parquet files, or *.parquet, *.arrow or *.jsonl files"
        )
    return _open_files(files, source)


def _is_split_file(file: Path, split: str) -> bool:
    stem = file.name[: -len(file.suffix)]
    return stem == split or stem.startswith(f"{split}-") or stem.startswith(f"{split}_")


def _open_saved(root: Path, source: str, split: str | None) -> Table:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(root))
    except Exception as error:  # noqa: BLE001 - any failure here is a broken folder
        raise DatasetError(f"{source}: {root}: cannot read the save_to_disk folder: {error}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DatasetError(f"{source}: {root}: no split {split!r}; it has {', '.join(loaded)}")
        loaded = loaded[split]
    rows = loaded.with_format("arrow")
    return Table(root, len(loaded), lambda i: rows[i].to_pylist()[0], root, set(loaded.column_names))


def _open_files(files: list[Path], source: str) -> Table:
    suffixes = {f.suffix for f in files}
    if len(suffixes) > 1:
        raise DatasetError(f"{source}: {files[0].parent}: mixed data files ({', '.join(sorted(suffixes))}); keep one kind")
    location = files[0] if len(files) == 1 else files[0].parent
    if ".jsonl" in suffixes:
        return _open_jsonl(files, location, source)
    import pyarrow as pa

    tables = []
    for file in files:
        try:
            tables.append(_read_arrow(file))
        except Exception as error:  # noqa: BLE001 - pyarrow raises many kinds
            raise DatasetError(f"{source}: {file}: cannot read: {error}") from None
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowInvalid as error:
        raise DatasetError(f"{source}: {location}: files have different columns: {error}") from None
    return Table(location, table.num_rows, lambda i: table.slice(i, 1).to_pylist()[0], files[0].parent,
                 set(table.column_names))


def _read_arrow(file: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if file.suffix == ".parquet":
        return pq.read_table(file)
    with pa.memory_map(str(file)) as stream:
        try:
            return pa.ipc.open_stream(stream).read_all()  # what datasets writes
        except pa.ArrowInvalid:
            stream.seek(0)
            return pa.ipc.open_file(stream).read_all()


def _open_jsonl(files: list[Path], location: Path, source: str) -> Table:
    lines: list[tuple[Path, str]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DatasetError(f"{source}: {file}: cannot read: {error}") from None
        lines.extend((file, line) for line in text.splitlines() if line.strip())

    def fetch(index: int) -> dict:
        _, line = lines[index]
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadRow(f"not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise BadRow(f"expected a JSON object, got {type(record).__name__}")
        return record

    return Table(location, len(lines), fetch, files[0].parent, None, line_numbers=len(files) == 1)


def decode_image(value: Any, base_dir: Path):
    """A PIL RGB image from a PIL image, an ``{'bytes', 'path'}`` dict, raw bytes or a path."""
    from PIL import Image

    if isinstance(value, Image.Image):
        image = value
    else:
        if isinstance(value, Mapping):
            value = value.get("bytes") or value.get("path")
        if value is None or value == "":
            raise BadRow("image missing")
        if isinstance(value, (bytes, bytearray)):
            opener = io.BytesIO(value)
        elif isinstance(value, str):
            opener = Path(value) if Path(value).is_absolute() else base_dir / value
            if not opener.is_file():
                raise BadRow(f"image file not found: {opener}")
        else:
            raise BadRow(f"image: expected a picture, bytes or a path, got {type(value).__name__}")
        try:
            image = Image.open(opener)
            image.load()
        except Exception as error:  # noqa: BLE001 - PIL raises many kinds for broken files
            raise BadRow(f"image unreadable ({type(error).__name__}: {error})") from None
    return image if image.mode == "RGB" else image.convert("RGB")


def required_columns_present(table: Table, needed: Mapping[str, str], source: str) -> None:
    """Fail early when a table lacks a column: a whole-file problem, not a bad row."""
    if table.columns is None:
        return
    missing = [f"{name!r} (column {stored!r})" for name, stored in needed.items() if stored not in table.columns]
    if missing:
        raise DatasetError(
            f"{source}: {table.location}: missing {', '.join(missing)}; it has {', '.join(sorted(table.columns))}. "
            f"Rename a stored column with columns = {{ stored_name = \"{next(iter(needed))}\" }}"
        )


def read_rows(table: Table, request: LoadRequest, convert: Callable[[dict, Table], Row], source: str) -> list[Row]:
    """Rows in a shuffled order fixed by ``request.seed``, at most ``request.limit`` of them.

    Bad records are skipped; the share of bad ones among those examined must stay within
    ``request.max_bad_fraction``.
    """
    if table.count == 0:
        raise DatasetError(f"{source}: {table.location}: no rows")
    order = list(range(table.count))
    random.Random(request.seed).shuffle(order)
    rows: list[Row] = []
    bad: list[tuple[int, str]] = []
    for index in order:
        if request.limit is not None and len(rows) >= request.limit:
            break
        try:
            rows.append(convert(table.record(index), table))
        except BadRow as error:
            bad.append((index, str(error)))
    if bad:
        examined = len(rows) + len(bad)
        share = f"({len(bad) / examined:.1%})"
        first = "; ".join(f"{table.where(i)}: {why}" for i, why in sorted(bad)[:REPORTED_BAD_ROWS])
        if len(bad) > request.max_bad_fraction * examined:
            raise DatasetError(
                f"{source}: {table.location}: {len(bad)} of {examined} rows are bad {share}, more than "
                f"max_bad_fraction = {request.max_bad_fraction}: {first}"
            )
        logger.warning("%s: %s: skipped %d bad rows of %d %s: %s", source, table.location, len(bad), examined,
                       share, first)
    return rows
