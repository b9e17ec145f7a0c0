"""The bundled model must draw the digit it is asked for, judged by an independent classifier.

The classifier is trained on the real scikit-learn digits after the same round trip the
generated images take (model space → rendered PNG-ready image → 8x8 features), so only the
model's drawing is being judged, not the resampling.
"""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.diffusion import GenerationParams, ImageModel

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from conveyor.diffusion.digits import digit_features, digits_to_tensor, render_digits  # noqa: E402

PER_DIGIT = 10
SIZE = 64


def test_generated_digits_are_recognised(digits_model: ImageModel) -> None:
    data = load_digits()
    real = render_digits(digits_to_tensor(data.images), SIZE, SIZE)
    features = np.stack([digit_features(img) for img in real])
    classifier = SVC(gamma="scale").fit(features, data.target)
    assert classifier.score(features, data.target) > 0.99  # the round trip keeps digits legible

    requests = [
        GenerationParams(f"draw the digit {d}", seed=1000 * d, num_images=PER_DIGIT, width=SIZE)
        for d in range(10)
    ]
    items = [item for params in requests for item in params.items()]
    images = digits_model.generate(items)
    predicted = classifier.predict(np.stack([digit_features(img) for img in images]))
    wanted = np.repeat(np.arange(10), PER_DIGIT)
    accuracy = float((predicted == wanted).mean())
    per_digit = {d: int((predicted[wanted == d] == d).sum()) for d in range(10)}
    print(f"digits quality: {accuracy:.1%} recognised; per digit (of {PER_DIGIT}): {per_digit}")
    assert accuracy >= 0.9, per_digit
