"""The paper's prompt templates (paper.md section 2.3, Figures 2 and 8), shared with the synthetic testbed."""

from modomodo.answers import LETTERS

THINK_AND_OPTION = (
    "Output the thinking process in <think> </think> and final answer (option) in <answer> </answer> tags."
)
THINK_AND_ANSWER = "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
BOX_INSTRUCTION = "Output the bounding box in the image corresponding to the instruction:"
BOX_FORMAT = (
    f"{THINK_AND_ANSWER} The answer format is [{{'Position': [x1, y1, x2, y2], 'Confidence': number}}, ...]. "
    "Please strictly follow the format."
)


def multiple_choice(question: str, options: list[str]) -> str:
    """Figure 2: the question, lettered options, then the reasoning instruction."""
    lines = "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))
    return f"{question}\nOptions:\n{lines}\n{THINK_AND_OPTION}"


def short_answer(question: str) -> str:
    return f"{question} {THINK_AND_ANSWER}"


def box_question(instruction: str) -> str:
    """Figure 8: a grounding instruction and the required list-of-boxes answer format."""
    return f"{BOX_INSTRUCTION} {instruction} {BOX_FORMAT}"
