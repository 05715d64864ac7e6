"""The paper's datasets as sources: five training sets with their test splits, four OOD benchmarks.

Training sets are stored in the published schema ``image`` / ``problem`` / ``solution``
(design.md); the OOD benchmarks in the schema ``image`` / ``question`` / ``options`` /
``answer`` and are turned into the common schema with the paper's prompt template.
``LoadRequest.columns`` renames stored columns onto the schema: ``{stored name: schema name}``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from modomodo import DatasetError, DatasetSource, LoadRequest, Row
from modomodo.answers import ANSWER_OPEN, answer_span

from .prompts import LETTERS, THINK_AND_OPTION, multiple_choice, short_answer
from .readers import BadRow, Table, decode_image, open_split, read_rows, required_columns_present

TRAINING_COLUMNS = ("image", "problem", "solution")
BENCHMARK_COLUMNS = ("image", "question", "options", "answer")
NUMBER = r"\s*-?\d+(?:\.\d+)?\s*"
BOX = re.compile(rf"\[{NUMBER},{NUMBER},{NUMBER},{NUMBER}\]")
LETTER = re.compile(r"^\(?([A-H])\)?\.?$")


def _check_boxes(answer: str) -> None:
    if not BOX.search(answer):
        raise BadRow(f"solution: expected boxes like [x1, y1, x2, y2] inside <answer>, got {answer[:60]!r}")


def _check_letter(answer: str) -> None:
    if not LETTER.match(answer.strip()):
        raise BadRow(f"solution: expected an option letter A-H inside <answer>, got {answer[:60]!r}")


def _check_text(answer: str) -> None:
    if not answer.strip():
        raise BadRow("solution: the answer inside <answer> is empty")


ANSWER_CHECKS: dict[str, Callable[[str], None]] = {"boxes": _check_boxes, "letter": _check_letter, "text": _check_text}


@attrs.frozen
class PaperSource:
    """One of the paper's datasets: its splits, the answer form its solutions must have, its prompt handling."""

    name: str
    splits: tuple[str, ...]
    answer: str  # "boxes" | "letter" | "text" for training sets, "benchmark" for OOD sets
    description: str
    add_instruction: bool = False  # SAT, GeoQAV, ScienceQA problems get the Figure 2 instruction appended

    def load(self, request: LoadRequest) -> list[Row]:
        schema = BENCHMARK_COLUMNS if self.answer == "benchmark" else TRAINING_COLUMNS
        columns = _column_map(self.name, request.columns, schema)
        table = open_split(request.path, request.split, self.name)
        required = {name: columns[name] for name in schema if name != "options"}
        required_columns_present(table, required, self.name)
        convert = self._benchmark_row if self.answer == "benchmark" else self._training_row
        return read_rows(table, request, lambda record, table: convert(record, table, columns), self.name)

    def _training_row(self, record: Mapping[str, Any], table: Table, columns: Mapping[str, str]) -> Row:
        problem = _text(record, columns["problem"], "problem")
        solution = _text(record, columns["solution"], "solution")
        found = answer_span(solution)
        if found is None:
            raise BadRow(f"solution: no <answer>...</answer> in {solution[:60]!r}")
        ANSWER_CHECKS[self.answer](found)
        if self.add_instruction and ANSWER_OPEN not in problem:
            problem = f"{problem} {THINK_AND_OPTION}"
        row = _extras(record, columns)
        row.update(image=decode_image(_field(record, columns["image"], "image"), table.base_dir),
                   problem=problem, solution=solution)
        return row

    def _benchmark_row(self, record: Mapping[str, Any], table: Table, columns: Mapping[str, str]) -> Row:
        question = _text(record, columns["question"], "question")
        options = _options(record.get(columns["options"]))
        answer = _answer_text(_field(record, columns["answer"], "answer"))
        if options:
            problem, answer = multiple_choice(question, options), _option_letter(answer, options)
        else:
            problem = short_answer(question)
        row = _extras(record, columns)
        row.update(image=decode_image(_field(record, columns["image"], "image"), table.base_dir),
                   problem=problem, solution=f"<answer>{answer}</answer>")
        return row

    def source(self) -> DatasetSource:
        return DatasetSource(name=self.name, load=self.load, splits=self.splits, description=self.description)


def _column_map(source: str, given: Mapping[str, str], schema: tuple[str, ...]) -> dict[str, str]:
    """Schema name -> stored name, from the config's renames ``{stored name: schema name}``."""
    unknown = sorted(set(given.values()) - set(schema))
    if unknown:
        raise DatasetError(
            f"{source}: columns: {', '.join(map(repr, unknown))} is not a schema name; expected renames "
            f"{{stored name = schema name}} onto {', '.join(schema)}, e.g. columns = {{ img = \"{schema[0]}\" }}"
        )
    stored_for = {name: name for name in schema}
    for stored, name in given.items():
        if stored_for[name] != name:
            raise DatasetError(f"{source}: columns: both {stored_for[name]!r} and {stored!r} are renamed to {name!r}")
        stored_for[name] = stored
    return stored_for


def _field(record: Mapping[str, Any], column: str, name: str) -> Any:
    if column not in record:
        raise BadRow(f"{name}: column {column!r} missing")
    return record[column]


def _text(record: Mapping[str, Any], column: str, name: str) -> str:
    value = _field(record, column, name)
    if not isinstance(value, str):
        raise BadRow(f"{name}: expected text, got {type(value).__name__}")
    if not value.strip():
        raise BadRow(f"{name}: empty")
    return value


def _options(value: Any) -> list[str]:
    """Options as a list, a string holding a list (MMMU stores them so), or nothing (a free-form question)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise BadRow(f"options: expected a list, got {value[:60]!r}") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(o, (str, int, float)) for o in value):
        raise BadRow(f"options: expected a list of texts, got {value!r:.60}")
    if len(value) > len(LETTERS):
        raise BadRow(f"options: at most {len(LETTERS)} options (A-H), got {len(value)}")
    return [str(option) for option in value]


def _answer_text(value: Any) -> str:
    """The reference answer as text; of a list of accepted answers (InfoVQA), the first."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        raise BadRow(f"answer: expected text or a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRow(f"answer: expected a finite number, got {value!r}")
        value = int(value) if value.is_integer() else value
    text = str(value).strip()
    if not text:
        raise BadRow("answer: empty")
    return text


def _option_letter(answer: str, options: list[str]) -> str:
    """The letter of the correct option: the answer may already be a letter, or be the option's text."""
    letters = LETTERS[: len(options)]
    letter = LETTER.match(answer)
    if letter and letter.group(1) in letters:
        return letter.group(1)
    for letter, option in zip(letters, options):
        if option.strip().casefold() == answer.casefold():
            return letter
    raise BadRow(f"answer: {answer[:60]!r} is neither an option letter ({letters[0]}-{letters[-1]}) nor an option")


def _extras(record: Mapping[str, Any], columns: Mapping[str, str]) -> Row:
    """Other plain columns reach the verifiers unchanged; pictures and nested values stay behind."""
    used = set(columns.values())
    return {k: v for k, v in record.items() if k not in used and (v is None or isinstance(v, (str, int, float, bool)))}


PAPER_SOURCES = (
    PaperSource("coco", ("train",), "boxes", "COCO detection, Visual-RFT subset (paper: 5997 rows; iou-coco)"),
    PaperSource("lisa", ("train", "test"), "boxes", "LISA referring expressions (paper: 1326 train, 3397 test; iou-binary, test metric iou-mean)"),
    PaperSource("geoqav", ("train",), "letter", "GeoQAV math VQA, multiple choice (paper: 1969 rows; choice)", add_instruction=True),
    PaperSource("sat", ("train", "test"), "text", "SAT spatial VQA; test is SAT val (paper: 15000 train, 1928 test; exact)", add_instruction=True),
    PaperSource("scienceqa", ("train", "test"), "letter", "ScienceQA with images, multiple choice (paper: 6218 train, 2017 test; choice)", add_instruction=True),
    PaperSource("chartqa", ("test",), "benchmark", "ChartQA test, OOD (paper: 2500 rows; exact)"),
    PaperSource("infovqa", ("test",), "benchmark", "InfoVQA val, OOD (paper: 2801 rows; exact)"),
    PaperSource("mathvista", ("test",), "benchmark", "MathVista testmini, OOD (paper: 1000 rows; choice or exact)"),
    PaperSource("mmmu", ("test",), "benchmark", "MMMU val, OOD (paper: 900 rows; choice)"),
)
