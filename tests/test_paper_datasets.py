"""The paper's sources read small fixture datasets in every on-disk form, including bad rows."""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image

from modomodo import DatasetError, LoadRequest, get_component

TRAINING = {"coco": "boxes", "lisa": "boxes", "geoqav": "letter", "sat": "text", "scienceqa": "letter"}
BENCHMARKS = ("chartqa", "infovqa", "mathvista", "mmmu")
FORMS = ("save_to_disk", "parquet", "jsonl")
SOLUTIONS = {
    "boxes": "<answer>[{'Position': [2, 3, 20, 24], 'Confidence': 1}]</answer>",
    "letter": "<answer>B</answer>",
    "text": "<answer>left</answer>",
}


def picture(shade: int) -> Image.Image:
    return Image.new("RGB", (32, 24), (shade, 10, 200))


def training_records(kind: str, count: int) -> list[dict]:
    return [
        {"image": picture(i), "problem": f"Question {i}?", "solution": SOLUTIONS[kind], "source_id": f"id-{i}"}
        for i in range(count)
    ]


def benchmark_records(count: int) -> list[dict]:
    """Alternating multiple-choice (answer as option text) and free-form rows."""
    records = []
    for i in range(count):
        if i % 2:
            records.append({"image": picture(i), "question": f"Which {i}?", "options": ["cat", "dog", "fish"],
                            "answer": "dog", "source_id": f"id-{i}"})
        else:
            records.append({"image": picture(i), "question": f"How many {i}?", "options": [], "answer": str(i),
                            "source_id": f"id-{i}"})
    return records


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write(tmp_path, form: str, splits: dict[str, list[dict]]):
    """Write records in one on-disk form; a record's image may be a picture, None, or raw (broken) bytes."""
    root = tmp_path / form
    root.mkdir()
    if form == "save_to_disk":
        import datasets

        def encode(value):
            if isinstance(value, Image.Image):
                return {"bytes": png(value), "path": None}
            return None if value is None else {"bytes": value, "path": None}

        parts = {}
        for split, records in splits.items():
            columns = {key: [r.get(key) for r in records] for key in records[0]}
            columns["image"] = [encode(r["image"]) for r in records]
            features = datasets.Features({
                key: datasets.Image(decode=False) if key == "image" else
                datasets.Sequence(datasets.Value("string")) if key == "options" else datasets.Value("string")
                for key in columns
            })
            parts[split] = datasets.Dataset.from_dict(columns, features=features)
        datasets.DatasetDict(parts).save_to_disk(str(root))
    elif form == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for split, records in splits.items():
            rows = [dict(r, image=None if r["image"] is None else
                         {"bytes": png(r["image"]) if isinstance(r["image"], Image.Image) else r["image"], "path": None})
                    for r in records]
            pq.write_table(pa.Table.from_pylist(rows), root / f"{split}.parquet")
    else:
        for split, records in splits.items():
            (root / split / "images").mkdir(parents=True)
            lines = []
            for i, record in enumerate(records):
                line = dict(record)
                if isinstance(record["image"], Image.Image):
                    record["image"].save(root / split / "images" / f"{i}.png")
                    line["image"] = f"images/{i}.png"
                elif isinstance(record["image"], bytes):
                    (root / split / "images" / f"{i}.png").write_bytes(record["image"])
                    line["image"] = f"images/{i}.png"
                lines.append(json.dumps(line))
            (root / split / "data.jsonl").write_text("\n".join(lines) + "\n")
    return root


def load(name: str, path, split: str = "train", **settings):
    return get_component("datasets", name).load(LoadRequest(split=split, path=str(path), **settings))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_source_reads_every_form(tmp_path, name, form):
    split = get_component("datasets", name).splits[-1]
    root = write(tmp_path, form, {split: training_records(TRAINING[name], 6)})
    rows = load(name, root, split)
    assert len(rows) == 6
    row = rows[0]
    assert isinstance(row["image"], Image.Image) and row["image"].mode == "RGB" and row["image"].size == (32, 24)
    assert row["solution"] == SOLUTIONS[TRAINING[name]]
    assert row["source_id"].startswith("id-")  # extra columns reach the verifiers
    if name in ("sat", "geoqav", "scienceqa"):
        assert row["problem"].endswith("final answer (option) in <answer> </answer> tags.")
    else:
        assert "<answer>" not in row["problem"]  # coco and lisa problems carry their own instruction


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_source_skips_and_reports_bad_rows(tmp_path, name, form, caplog):
    records = training_records(TRAINING[name], 40)
    records[3]["image"] = None
    records[7]["solution"] = "no tags here"
    records[11]["image"] = b"not a picture"
    split = get_component("datasets", name).splits[0]
    root = write(tmp_path, form, {split: records})
    with caplog.at_level(logging.WARNING):
        rows = load(name, root, split, max_bad_fraction=0.1)
    assert len(rows) == 37
    message = caplog.text
    assert "skipped 3 bad rows of 40 (7.5%)" in message
    where = "line" if form == "jsonl" else "row"
    first = 4 if form == "jsonl" else 3
    assert f"{where} {first}: image missing" in message
    assert "no <answer>" in message and "image unreadable" in message
    with pytest.raises(DatasetError, match=r"3 of 40 rows are bad \(7.5%\), more than max_bad_fraction = 0.05: (row|line)") as failure:
        load(name, root, split, max_bad_fraction=0.05)
    assert str(root) in str(failure.value)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_source_builds_paper_prompts(tmp_path, name, form):
    root = write(tmp_path, form, {"test": benchmark_records(4)})
    rows = {row["source_id"]: row for row in load(name, root, "test")}
    choice, free = rows["id-1"], rows["id-2"]
    assert choice["problem"] == (
        "Which 1?\nOptions:\nA. cat\nB. dog\nC. fish\n"
        "Output the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags."
    )
    assert choice["solution"] == "<answer>B</answer>"
    assert free["problem"].startswith("How many 2? Output the thinking process in <think> </think>")
    assert free["solution"] == "<answer>2</answer>"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_source_skips_bad_rows(tmp_path, name, form, caplog):
    records = benchmark_records(30)
    records[1]["answer"] = "horse"  # not an option
    records[4]["image"] = None
    root = write(tmp_path, form, {"test": records})
    with caplog.at_level(logging.WARNING):
        assert len(load(name, root, "test", max_bad_fraction=0.1)) == 28
    assert "is neither an option letter (A-C) nor an option" in caplog.text
    with pytest.raises(DatasetError, match="2 of 30 rows are bad"):
        load(name, root, "test", max_bad_fraction=0.0)


def test_shuffle_is_fixed_by_seed_and_limit_takes_a_prefix(tmp_path):
    root = write(tmp_path, "parquet", {"train": training_records("text", 30)})
    order = lambda **s: [row["source_id"] for row in load("sat", root, **s)]  # noqa: E731
    assert order(seed=1) == order(seed=1)
    assert order(seed=1) != order(seed=2)
    assert sorted(order(seed=1)) == sorted(order(seed=2))
    assert order(seed=1, limit=5) == order(seed=1)[:5]


def test_columns_rename_stored_columns_onto_the_schema(tmp_path):
    records = [{"img": r["image"], "prompt": r["problem"], "target": r["solution"]} for r in training_records("letter", 3)]
    root = write(tmp_path, "parquet", {"train": [dict(r, image=r.pop("img")) for r in records]})
    with pytest.raises(DatasetError, match=r"missing 'problem' \(column 'problem'\).*it has image, prompt, target"):
        load("scienceqa", root)
    rows = load("scienceqa", root, columns={"prompt": "problem", "target": "solution"})
    assert [row["solution"] for row in rows] == ["<answer>B</answer>"] * 3
    with pytest.raises(DatasetError, match="'question' is not a schema name"):
        load("scienceqa", root, columns={"prompt": "question"})
    with pytest.raises(DatasetError, match="both 'prompt' and 'target' are renamed to 'problem'"):
        load("scienceqa", root, columns={"prompt": "problem", "target": "problem"})


def test_mmmu_options_stored_as_text_and_lists_of_answers(tmp_path):
    records = [{"image": picture(1), "question": "Pick", "options": "['red', 'blue']", "answer": "A"},
               {"image": picture(2), "question": "Read", "options": "[]", "answer": ["42", "forty-two"]}]
    root = write(tmp_path, "jsonl", {"test": records})
    rows = sorted(load("mmmu", root, "test"), key=lambda row: row["problem"])
    assert rows[0]["problem"].startswith("Pick\nOptions:\nA. red\nB. blue\n")
    assert rows[0]["solution"] == "<answer>A</answer>"
    assert rows[1]["solution"] == "<answer>42</answer>"


def test_split_selection_and_path_errors(tmp_path):
    root = write(tmp_path, "save_to_disk", {"train": training_records("boxes", 2), "test": training_records("boxes", 3)})
    assert len(load("lisa", root, "test")) == 3
    with pytest.raises(DatasetError, match="no split 'val'; it has train, test"):
        load("lisa", root, "val")
    with pytest.raises(DatasetError, match="no such file or folder"):
        load("lisa", tmp_path / "missing")
    with pytest.raises(DatasetError, match="no path given"):
        get_component("datasets", "lisa").load(LoadRequest(split="train"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no data for split 'train'"):
        load("lisa", tmp_path / "empty")


def test_invalid_jsonl_lines_are_bad_rows(tmp_path, caplog):
    root = write(tmp_path, "jsonl", {"train": training_records("text", 25)})
    data = root / "train" / "data.jsonl"
    data.write_text(data.read_text() + "{not json\n")
    with caplog.at_level(logging.WARNING):
        assert len(load("sat", root, max_bad_fraction=0.1)) == 25
    assert "line 26: not valid JSON" in caplog.text
