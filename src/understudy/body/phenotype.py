"""From requested attributes to the avatar's body: anny phenotype values and a skin tone.

The render already carries the attributes (not only the prompt), so the mapping lives here,
in one table each:

* gender: anny 0 is male, 1 female; 0.05 / 0.95 keep a little of the other's shape, which
  reads more natural than the extremes;
* age: anny's 0.5 is a young teenager; adults run from about 0.77 (18 years) to 0.85
  (70 years), interpolated linearly from the middle of each decade;
* build -> weight (and a little muscle), height -> height; anny's 0.35 is about 1.75 m for
  an adult man, and a female body is shorter at the same value;
* ethnicity -> anny's african / asian / caucasian blend (face and body shape) and a skin
  tone drawn from ``SKIN_TONES`` (sRGB, documented swatches from light to deep) with the
  person's generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.attributes import Attributes

GENDER = {"female": 0.95, "male": 0.05}
AGE_MID_YEARS = {"20s": 25, "30s": 35, "40s": 45, "50s": 55, "60s": 65, "70s": 75}
WEIGHT = {"slim": 0.3, "average": 0.5, "heavy": 0.8}
MUSCLE = {"slim": 0.45, "average": 0.5, "heavy": 0.55}
HEIGHT = {"short": 0.2, "average": 0.4, "tall": 0.65}

# anny's race blend per ethnicity (weights sum to 1).
RACE_BLEND: dict[str, tuple[float, float, float]] = {  # african, asian, caucasian
    "black": (1.0, 0.0, 0.0),
    "east asian": (0.0, 1.0, 0.0),
    "southeast asian": (0.15, 0.75, 0.1),
    "south asian": (0.3, 0.3, 0.4),
    "middle eastern": (0.1, 0.1, 0.8),
    "latino": (0.15, 0.35, 0.5),
    "white": (0.0, 0.0, 1.0),
}

# Skin tones (sRGB 0-255) per ethnicity; one is drawn per person. Real skin varies widely
# within every group: these are plausible swatches, not a classifier's boundaries.
SKIN_TONES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((141, 85, 54), (114, 68, 43), (92, 55, 38), (70, 43, 30)),
    "east asian": ((241, 204, 170), (228, 185, 148), (214, 170, 130)),
    "southeast asian": ((214, 164, 122), (196, 145, 104), (178, 128, 90)),
    "south asian": ((198, 146, 104), (172, 122, 84), (141, 98, 66)),
    "middle eastern": ((224, 178, 140), (205, 158, 118), (184, 136, 98)),
    "latino": ((226, 180, 140), (204, 156, 114), (176, 128, 90)),
    "white": ((246, 214, 190), (236, 196, 168), (222, 178, 148)),
}


def age_value(age: str) -> float:
    """anny's age parameter for an age bucket: 0.77 at 18 years to 0.85 at 70."""
    years = AGE_MID_YEARS[age]
    return float(0.77 + (years - 18) * (0.85 - 0.77) / (70 - 18))


@dataclass(frozen=True)
class Phenotype:
    """What the body looks like: anny's phenotype inputs and the skin colour."""

    values: dict[str, float]
    skin: tuple[int, int, int]

    def kwargs(self, labels: list[str]) -> dict[str, float]:
        """The phenotype values the model knows (a "default" model has no race blend)."""
        return {k: v for k, v in self.values.items() if k in labels}


def phenotype_for(attributes: Attributes, rng: np.random.Generator) -> Phenotype:
    african, asian, caucasian = RACE_BLEND[attributes.ethnicity]
    values = {
        "gender": GENDER[attributes.gender],
        "age": age_value(attributes.age),
        "weight": WEIGHT[attributes.build],
        "muscle": MUSCLE[attributes.build],
        "height": HEIGHT[attributes.height],
        "proportions": 0.5,
        "african": african, "asian": asian, "caucasian": caucasian,
    }
    tones = SKIN_TONES[attributes.ethnicity]
    base = np.asarray(tones[int(rng.integers(len(tones)))], float)
    # A small jitter so that two people drawn from the same swatch are not identical.
    skin = np.clip(base * rng.uniform(0.96, 1.04), 0, 255)
    return Phenotype(values, (int(skin[0]), int(skin[1]), int(skin[2])))
