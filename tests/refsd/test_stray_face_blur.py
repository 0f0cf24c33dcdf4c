"""People mode under RefSD: a face that belongs to no person (a crowd, a poster) has no
body to fit; it gets the strong blur of `--method blur`, not a black box."""

from __future__ import annotations

import numpy as np

from refsd.conftest import make_scene
from understudy.methods.refsd import RefSD, RefSDOptions
from understudy.run.guard import run_guarded
from understudy.scene import Face, Person


def test_a_stray_face_is_blurred_and_the_person_replaced(body, astronaut, astronaut_person):
    h, w = astronaut.shape[:2]
    # A second copy of the astronaut's left half beside her, with only her face detected:
    # a face and no person, like a poster on the wall.
    image = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, :256]], axis=1))
    mask = np.zeros(image.shape[:2], bool)
    mask[:, :w] = astronaut_person.mask
    person = Person(astronaut_person.box, 0.9, mask=mask,
                    keypoints2d=astronaut_person.keypoints2d,
                    keypoints3d=astronaut_person.keypoints3d)
    stray = Face(box=np.array([w + 150, 40, w + 250, 180], np.float32), score=0.8)
    scene = make_scene(image, [person])
    scene.faces = [stray]
    regions = scene.regions()
    assert [r.kind for r in regions] == ["person", "face"]

    method = RefSD(RefSDOptions(attributes="gender=male,age=50s"), body=body)
    try:
        result = run_guarded(method, scene, np.random.default_rng(0))
    finally:
        method.close()
    person_record, face_record = result.regions
    assert person_record.outcome.value == "replaced"
    assert face_record.outcome.value == "replaced"
    assert face_record.attributes["method"] == "blur"
    face = regions[1].mask
    before, after = image[face].astype(int), result.image[face].astype(int)
    assert np.abs(after - before).mean() > 8  # really changed
    assert after.std() > 5 and after.mean() > 20  # a blur of the face, not a solid fill
    # The rest of the copy (no one there) is untouched: no hole was inpainted for the face.
    untouched = np.zeros_like(face)
    untouched[300:, w + 20:] = True
    np.testing.assert_array_equal(result.image[untouched], image[untouched])
