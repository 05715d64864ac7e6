"""An image-only Qwen2-VL processor, registered with ``AutoProcessor``.

The stock ``Qwen2VLProcessor`` also builds a video processor, which needs torchvision;
this subclass drops it and uses the PIL image processor, so a saved tiny model reloads
with ``AutoProcessor.from_pretrained`` like any Qwen2-VL checkpoint. Registration is per
process: call :func:`register_processor` before loading (the loaders here do).
"""

from __future__ import annotations

from functools import cache

PROCESSOR_KEY = "tiny-qwen2vl"


@cache
def processor_class():
    """The subclass, built on first use so importing this module stays free of transformers."""
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2VLProcessor without the video processor (and so without torchvision)."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    ImageOnlyQwen2VLProcessor.__module__ = __name__
    return ImageOnlyQwen2VLProcessor


@cache
def register_processor() -> None:
    """Make ``AutoProcessor`` resolve the saved ``processor_class`` name to our subclass."""
    from transformers import AutoProcessor

    AutoProcessor.register(PROCESSOR_KEY, processor_class(), exist_ok=True)


def build_processor(tokenizer, min_pixels: int, max_pixels: int):
    """A processor for ``tokenizer`` whose images are resized into [min_pixels, max_pixels]."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    register_processor()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    return processor_class()(image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template)
