"""People mode: faces nobody owns are still anonymized; the audit says how people were found;
a second face detector finds small faces."""

from __future__ import annotations

import numpy as np

import photos
from understudy.scene import Face, Frame, Person, Scene


def _scene(target="people"):
    (_, image, _), = photos.astronaut()
    h, w = image.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[300:500, 40:200] = True
    person = Person(box=np.array([40, 300, 200, 500], np.float32), score=0.9, mask=mask,
                    source="residual")
    owned = Face(box=np.array([80, 320, 120, 370], np.float32), score=0.9)
    person.faces.append(owned)
    inside = Face(box=np.array([140, 420, 170, 460], np.float32), score=0.8)  # on their body
    stray = Face(box=np.array([380, 40, 420, 90], np.float32), score=0.7)  # a poster, say
    return Scene(Frame(image, "a"), people=[person], faces=[owned, inside, stray],
                 target=target)


def test_people_mode_gives_faces_nobody_owns_a_face_region():
    regions = _scene().regions()
    assert [r.kind for r in regions] == ["person", "face"]
    assert regions[1].face.box[0] == 380
    # Faces mode is unchanged: one region per face.
    assert [r.kind for r in _scene("faces").regions()] == ["face"] * 3



def test_a_stray_face_keeps_only_the_pixels_outside_people():
    """Blurred over a person's region, a stray face blurred their stand-in away (a false face
    on the grass beside a walker, vtest 697-701). Their pixels change with them."""
    from understudy.regions import face_region_mask

    scene = _scene()
    beside = Face(box=np.array([180, 330, 240, 400], np.float32), score=0.3)  # half on them
    scene.faces.append(beside)
    person, *faces = scene.regions()
    (region,) = [r for r in faces if r.face is beside]
    head = face_region_mask(beside.box, person.mask.shape)
    assert (head & person.mask).any() and not (region.mask & person.mask).any()
    np.testing.assert_array_equal(region.mask, head & ~person.mask)

def test_every_method_anonymizes_stray_faces_and_the_audit_says_how_people_were_found():
    from understudy.methods.registry import load_method
    from understudy.perception.perceiver import PerceptionOptions
    from understudy.run.anonymizer import AnonymizeOptions, Anonymizer

    scene = _scene()
    options = AnonymizeOptions(method="maskout",
                               perception=PerceptionOptions(target="people"))
    # The perceiver is not used by ``apply``: the scene is given.
    anonymizer = Anonymizer(options, method=load_method("maskout"), perceiver=object())
    result = anonymizer.apply(scene)
    person, face = result.regions
    assert (person.kind, person.source) == ("person", "residual")
    assert face.kind == "face" and face.outcome.value in ("replaced", "masked")
    stray = scene.regions()[1].mask
    assert (result.image[stray] != scene.image[stray]).any(axis=1).mean() > 0.9
    as_json = person.to_json()
    assert as_json["source"] == "residual"


def test_fused_faces_find_a_face_16_px_high():
    """The astronaut shrunk until her face is ~16 px high, pasted into a 1280x960 frame:
    the default (CenterFace + YuNet) finds it."""
    import cv2

    from understudy.perception.perceiver import default_face_detector

    (_, image, _), = photos.astronaut()
    detector = default_face_detector()
    (big,) = [f for f in detector(image) if f.score > 0.5]
    face_h = float(big.box[3] - big.box[1])
    scale = 16.0 / face_h
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((960, 1280, 3), 120, np.uint8)
    canvas[400:400 + small.shape[0], 700:700 + small.shape[1]] = small
    fx0, fy0, fx1, fy1 = big.box * scale + np.array([700, 400, 700, 400])
    found = [f for f in detector(canvas)
             if f.box[0] < (fx0 + fx1) / 2 < f.box[2] and f.box[1] < (fy0 + fy1) / 2 < f.box[3]]
    assert any(10 <= f.box[3] - f.box[1] <= 26 for f in found), \
        f"the 16 px face was not found: {[f.box for f in found]}"


def test_the_face_of_a_person_left_alone_is_left_alone_too():
    """``--min-person-size`` leaves a small person alone: their face must not come back as a
    stray face region; the audit says why."""
    from understudy.perception.perceiver import PerceptionOptions, Perceiver

    face = Face(box=np.array([12, 12, 20, 22], np.float32), score=0.9)

    class Small:
        cache_key = "small"

        def __call__(self, frame, faces):
            return [Person(box=np.array([10, 10, 22, 40], np.float32), score=0.9,
                           faces=[faces[0]])]

    perceiver = Perceiver(PerceptionOptions(target="people", min_person_size=50),
                          lambda image: [face], Small())
    scene = perceiver.perceive(Frame(np.zeros((100, 100, 3), np.uint8), "x"))
    assert scene.regions() == []
    assert sorted(r.kind for r in scene.skipped) == ["face", "person"]
