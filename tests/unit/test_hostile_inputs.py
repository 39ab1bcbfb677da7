"""Every case of the hostile corpus against the shared decoder, with each preprocessing model's limits."""

from __future__ import annotations

import re

import pytest

from rawvision.errors import InputError
from rawvision.imaging import DecodeLimits
from rawvision.repository import config_parameters, model_config, model_names
from rawvision.testing.hostile import cases
from rawvision.transforms import PreprocessSpec, load_image
from tests.conftest import REPOSITORY

PREPROCESS_MODELS = [name for name in model_names(REPOSITORY)
                     if name.endswith("_preprocess") and "resize" in config_parameters(model_config(REPOSITORY, name))]


@pytest.mark.parametrize("model", PREPROCESS_MODELS)
def test_every_hostile_case_gets_an_answer_or_a_named_error(model: str) -> None:
    params = config_parameters(model_config(REPOSITORY, model))
    spec, limits = PreprocessSpec.from_parameters(params), DecodeLimits.from_parameters(params)
    for case in cases(limits):
        if case.expect is None:
            pixels = load_image(case.payload, spec, limits)
            assert pixels.shape == (*spec.image_size, spec.channels), case.name
        else:
            with pytest.raises(InputError) as info:
                load_image(case.payload, spec, limits)
            assert re.search(case.expect, str(info.value)), (case.name, str(info.value))
