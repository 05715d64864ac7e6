"""Answering prompts with a policy: batched, greedy or sampled, with the training chat template.

Prompts are rendered by TRL's own ``prepare_multimodal_messages`` and the processor's chat
template, so evaluation sees exactly the token layout GRPO trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modomodo import GenerateRequest

from .checkpoints import Policy


def conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The user turn of ``row`` in TRL's conversational form (the image travels separately)."""
    return [{"role": "user", "content": row["problem"]}]


def generate_answers(policy: Policy, rows: Sequence[dict[str, Any]], request: GenerateRequest) -> list[list[str]]:
    import torch
    from trl.data_utils import prepare_multimodal_messages

    model, processor = policy.model, policy.processor
    processor.tokenizer.padding_side = "left"
    sampled = request.mode == "sampled"
    samples = request.samples if sampled else 1
    if sampled:
        torch.manual_seed(request.seed)
    options = {
        "max_new_tokens": request.max_new_tokens,
        "do_sample": sampled,
        "num_return_sequences": samples,
        "suppress_tokens": [model.config.image_token_id],
        "pad_token_id": processor.tokenizer.pad_token_id,
        "eos_token_id": processor.tokenizer.eos_token_id,
    }
    if sampled:
        options.update(temperature=request.temperature, top_k=0, top_p=1.0)
    else:
        options.update(temperature=None, top_k=None, top_p=None)
    was_training = model.training
    model.eval()
    answers: list[list[str]] = []
    for start in range(0, len(rows), request.batch_size):
        batch = rows[start : start + request.batch_size]
        messages = [
            prepare_multimodal_messages(conversation(row), images=[row["image"]] if row.get("image") is not None else [])
            for row in batch
        ]
        inputs = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
            processor_kwargs={"padding": True},
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(**inputs, **options)
        texts = processor.tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        answers.extend(texts[i * samples : (i + 1) * samples] for i in range(len(batch)))
    model.train(was_training)
    return answers
