"""How each task family's task is built for a training run: ``build(options, training set) ->
Task``, the options it reads with their defaults, and its training recipe.

``regionlab.train`` and ``regionlab train`` (whose flags default to these values) both build
through this table. No torch at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from regionlab.api.builders import dense, detection, language


@dataclass(frozen=True)
class Builder:
    name: str  # the task family, as in checkpoints
    build: Callable  # (options namespace, training set) -> Task
    defaults: dict  # every option ``build`` reads -> its default
    recipe: dict = field(default_factory=dict)  # TrainConfig defaults of this task
    photo_recipe: dict = field(default_factory=dict)  # over ``recipe`` on real photos
    model_recipes: dict = field(default_factory=dict)  # over both for one ``model`` option
    pair_size: bool = True  # ``size`` is (H, W) (an int N means N x N); else one side

    def recipe_for(self, train_set, model: str | None = None) -> dict:
        """The recipe for this training set and ``model`` option: ``photo_recipe`` applies to
        every reader but the built-in scenes, then ``model_recipes[model]``."""
        from regionlab.api.prepare import base_dataset

        generated = getattr(base_dataset(train_set), "generated", False)
        recipe = self.recipe if generated else {**self.recipe, **self.photo_recipe}
        return {**recipe, **self.model_recipes.get(model, {})}


BUILDERS: dict[str, Builder] = {
    b.name: b
    for b in (
        Builder(
            "segment",
            dense.build_segment,
            dense.SEGMENT_DEFAULTS,
            dense.SEGMENT_RECIPE,
            dense.SEGMENT_PHOTO_RECIPE,
        ),  # fmt: skip
        Builder("localize", dense.build_localize, dense.LOCALIZE_DEFAULTS, dense.LOCALIZE_RECIPE),
        Builder(
            "keypoints", dense.build_keypoints, dense.KEYPOINTS_DEFAULTS, dense.KEYPOINTS_RECIPE
        ),  # fmt: skip
        Builder(
            "detect",
            detection.build_detect,
            detection.DETECT_DEFAULTS,
            detection.DETECT_RECIPE,
            model_recipes=detection.DETECT_MODEL_RECIPES,
            pair_size=False,
        ),  # fmt: skip
        Builder(
            "instance",
            detection.build_instance,
            detection.INSTANCE_DEFAULTS,
            detection.INSTANCE_RECIPE,
            pair_size=False,
        ),  # fmt: skip
        Builder(
            "caption", language.build_caption, language.CAPTION_DEFAULTS, language.CAPTION_RECIPE
        ),  # fmt: skip
        Builder("align", language.build_align, language.ALIGN_DEFAULTS, language.ALIGN_RECIPE),
    )
}


def builder(name: str) -> Builder:
    if name not in BUILDERS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[name]
