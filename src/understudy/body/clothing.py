"""Dress the avatar: a per-vertex outfit (top, trousers/shorts/skirt, shoes, hair) drawn from a
documented palette with the person's generator.

An avatar is never rendered nude, and its clothes never come from the original person
(clothing identifies people): garments, colours and simple textures are sampled from
``PALETTE`` and ``STYLES`` below. Regions are found from anny's skinning (the dominant bone of
each vertex) and heights measured from the joints of the rest pose, so they follow any body.
Clothes sit a few millimetres off the skin (``THICKNESS``): a bare body is narrower than the
person it replaces, and the strip it leaves shows the inpainting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from understudy.attributes import Attributes
from understudy.body.model import BodyModel

SKIN, HAIR, TOP, BOTTOM, SHOES, EYES = range(6)
REGION_NAMES = ("skin", "hair", "top", "bottom", "shoes", "eyes")
# Outward offset of each region along the vertex normal, metres.
THICKNESS = {SKIN: 0.0, HAIR: 0.006, TOP: 0.012, BOTTOM: 0.01, SHOES: 0.012, EYES: 0.0}

# Named sRGB colours per garment, so the prompt can say what the render shows.
PALETTE: dict[str, dict[str, tuple[int, int, int]]] = {
    "top": {"white": (228, 228, 224), "black": (36, 36, 38), "grey": (128, 128, 130),
            "navy": (38, 48, 84), "blue": (60, 98, 160), "red": (160, 40, 44),
            "green": (52, 104, 64), "yellow": (214, 180, 62), "orange": (214, 110, 40),
            "burgundy": (104, 32, 48), "teal": (36, 118, 118), "purple": (96, 60, 130)},
    "bottom": {"blue denim": (58, 78, 112), "black": (34, 34, 36), "grey": (104, 104, 108),
               "khaki": (170, 150, 110), "navy": (36, 44, 70), "brown": (96, 70, 50),
               "olive": (90, 92, 58)},
    "shoes": {"black": (28, 28, 30), "white": (224, 224, 222), "brown": (86, 58, 40),
              "grey": (110, 110, 112)},
    "hair": {"black": (26, 22, 20), "dark brown": (58, 40, 30), "brown": (98, 68, 44),
             "blond": (188, 156, 100), "auburn": (120, 56, 36), "grey": (150, 148, 146),
             "white": (214, 212, 206)},
}
# (style, probability) per garment. Sleeves decide whether forearms are covered; a skirt
# covers the thighs to the knee.
STYLES = {
    "top": (("t-shirt", 0.4), ("long-sleeved shirt", 0.35), ("jacket", 0.25)),
    "bottom": (("trousers", 0.6), ("shorts", 0.15), ("skirt", 0.25)),
    "texture": (("plain", 0.7), ("striped", 0.2), ("checked", 0.1)),
}
HAIR_BY_ETHNICITY = {"black": ("black", "dark brown"), "east asian": ("black", "dark brown"),
                     "southeast asian": ("black", "dark brown"),
                     "south asian": ("black", "dark brown"),
                     "middle eastern": ("black", "dark brown", "brown"),
                     "latino": ("black", "dark brown", "brown"),
                     "white": ("dark brown", "brown", "blond", "auburn")}
# A requested hair colour (attributes.FACE_VOCABULARY) as a palette entry.
HAIR_OF_ATTRIBUTE = {"black": "black", "brown": "brown", "blond": "blond", "red": "auburn",
                     "grey": "grey", "white": "white"}
EYE_COLOR = (52, 40, 34)


@dataclass(frozen=True)
class Outfit:
    top: str
    top_color: str
    bottom: str
    bottom_color: str
    shoes_color: str
    hair_color: str
    texture: str
    long_hair: bool
    bald: bool = False  # hair_length=bald was asked for: no hair on the head

    def describe(self) -> str:
        """Words for the prompt: "a navy striped jacket, khaki trousers and black shoes"."""
        pattern = "" if self.texture == "plain" else f"{self.texture} "
        return (f"a {self.top_color} {pattern}{self.top}, {self.bottom_color} {self.bottom} "
                f"and {self.shoes_color} shoes")

    def to_json(self) -> dict[str, object]:
        out = dict(self.__dict__)
        if not self.bald:  # audit rows of unrequested hair stay as they were
            del out["bald"]
        return out


def _choice(rng: np.random.Generator, options) -> str:
    names = [o[0] for o in options]
    p = np.asarray([o[1] for o in options], float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


# A top closer than this (RGB distance) to the skin reads as bare skin: draw another colour.
MIN_SKIN_CONTRAST = 90.0


def sample_outfit(attributes: Attributes, rng: np.random.Generator,
                  skin: tuple[int, int, int] | None = None) -> Outfit:
    """An outfit for one person. Skirts only for female stand-ins, grey hair likelier with age;
    with ``skin`` given, top and bottom colours far enough from it not to look bare."""
    top = _choice(rng, STYLES["top"])
    bottom = _choice(rng, STYLES["bottom"])
    if bottom == "skirt" and attributes.gender != "female":
        bottom = "trousers"
    texture = _choice(rng, STYLES["texture"])
    def far_from_skin(group: str) -> list[str]:
        names = list(PALETTE[group])
        if skin is None:
            return names
        far = [n for n in names if np.linalg.norm(np.subtract(PALETTE[group][n], skin))
               >= MIN_SKIN_CONTRAST]
        return far or names

    top_color = str(rng.choice(far_from_skin("top")))
    bottom_color = str(rng.choice(far_from_skin("bottom")))
    if bottom == "skirt" and bottom_color == "blue denim":
        bottom_color = "navy"
    shoes_color = str(rng.choice(list(PALETTE["shoes"])))
    grey_p = {"50s": 0.3, "60s": 0.6, "70s": 0.85}.get(attributes.age, 0.0)
    hair = "grey" if rng.random() < grey_p else str(rng.choice(HAIR_BY_ETHNICITY[attributes.ethnicity]))
    long_hair = bool(rng.random() < (0.75 if attributes.gender == "female" else 0.1))
    # Requested hair wins over the draws above (drawn all the same, so that a request does
    # not reshuffle the rest of this person's outfit).
    if attributes.hair_color is not None:
        hair = HAIR_OF_ATTRIBUTE[attributes.hair_color]
    if attributes.hair_length is not None:
        long_hair = attributes.hair_length == "long"
    bald = attributes.hair_length == "bald"
    return Outfit(top, top_color, bottom, bottom_color, shoes_color, hair, texture, long_hair,
                  bald)


def vertex_regions(body: BodyModel, rest_vertices: np.ndarray, rest_heads: np.ndarray,
                   outfit: Outfit) -> np.ndarray:
    """(V,) region label (SKIN, HAIR, ...) of each vertex for this body and outfit.

    ``rest_vertices`` (V, 3) and ``rest_heads`` (bones, 3) are the unposed body (anny frame,
    Z up, facing -Y), so heights are comparable along the whole body.
    """
    names = [str(n) for n in body.bone_labels]
    dom = np.asarray(body.dominant_bone)
    z = rest_vertices[:, 2]
    y = rest_vertices[:, 1]

    def head(name: str) -> np.ndarray:
        return rest_heads[body.bone(name)]

    def starts(*prefixes: str) -> np.ndarray:
        # Per bone, then per vertex by its dominant bone: a test per vertex (13.7k string
        # tests, 7 times) cost ~70 ms per person, as much as the rest of its render.
        return np.array([n.startswith(prefixes) for n in names], bool)[dom]

    labels = np.full(len(z), SKIN, np.int64)
    hip_z = head("upperleg01.L")[2]
    knee_z = head("lowerleg01.L")[2]
    ankle_z = head("foot.L")[2]
    neck_z = head("neck01")[2]
    shoulder_z = head("upperarm01.L")[2]
    head_bone = head("head")
    legs = starts("root", "pelvis", "upperleg", "lowerleg")
    torso = starts("spine", "clavicle", "shoulder")
    upper_arm = starts("upperarm")
    fore_arm = starts("lowerarm")

    # Top: torso below the neck, sleeves by style; it reaches a little below the hips.
    top = (torso & (z < neck_z + 0.01)) | upper_arm
    if outfit.top != "t-shirt":
        top |= fore_arm
    else:
        top &= ~(upper_arm & (z < shoulder_z - 0.12))  # short sleeves end above the elbow
    waist_z = hip_z + 0.08
    labels[top & (z >= waist_z - (0.06 if outfit.top == "jacket" else 0.0))] = TOP
    # Bottom: hips and legs down to the style's hem.
    hem = {"trousers": ankle_z + 0.02, "shorts": knee_z + 0.12, "skirt": knee_z + 0.02}
    bottom = (legs | torso) & (z < waist_z) & (z >= hem[outfit.bottom])
    labels[bottom & (labels != TOP)] = BOTTOM
    # Shoes: feet and the ankle.
    labels[starts("foot", "toe") | (legs & (z < ankle_z + 0.02))] = SHOES
    # Hair: the top and back of the head (down to the nape, further when long).
    on_head = starts("head", "neck")
    crown = z > head_bone[2] + 0.065
    back = (y > head_bone[1] + 0.02) & (z > (neck_z if outfit.long_hair else head_bone[2] - 0.03))
    sides = (np.abs(rest_vertices[:, 0]) > 0.055) & (z > head_bone[2] + 0.02) & (y > head_bone[1] - 0.06)
    if not outfit.bald:
        labels[on_head & (crown | back | sides)] = HAIR
    labels[starts("eye")] = EYES
    return labels


def vertex_colors(labels: np.ndarray, rest_vertices: np.ndarray, outfit: Outfit,
                  skin: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """(V, 3) uint8 colours: region colour, a simple texture on the top, a little noise so
    flat areas do not look like plastic."""
    colors = np.empty((len(labels), 3), float)
    colors[:] = skin
    colors[labels == HAIR] = PALETTE["hair"][outfit.hair_color]
    colors[labels == BOTTOM] = PALETTE["bottom"][outfit.bottom_color]
    colors[labels == SHOES] = PALETTE["shoes"][outfit.shoes_color]
    colors[labels == EYES] = EYE_COLOR
    top = labels == TOP
    base = np.asarray(PALETTE["top"][outfit.top_color], float)
    colors[top] = base
    if outfit.texture != "plain":
        # 4 cm bands; the accent is the base colour pulled towards white or black.
        accent = base * 0.55 if base.mean() > 110 else base + (255 - base) * 0.45
        band = np.floor(rest_vertices[:, 2] / 0.04).astype(int) % 2 == 1
        if outfit.texture == "checked":
            band ^= np.floor(rest_vertices[:, 0] / 0.04).astype(int) % 2 == 1
        colors[top & band] = accent
    noise = rng.normal(0.0, 4.0, size=(len(labels), 1))
    return np.clip(colors + noise, 0, 255).astype(np.uint8)
