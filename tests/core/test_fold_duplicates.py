"""A person whose mask cannot hold them, mostly inside a surer person's box, joins that
person's region (scene._fold_unvouched_into_hosts): one stand-in over both, not a second
stand-in fitted to a box or a black box over the first. Nothing of either is left out."""

from __future__ import annotations

import numpy as np

from understudy.methods.registry import load_method
from understudy.run.guard import run_guarded
from understudy.scene import EMPTY_REGION, Frame, Person, Scene

SIZE = (300, 300)


def _walker(box, fill_rows, fill_cols, score=0.9, uncertain=False) -> Person:
    mask = np.zeros(SIZE, bool)
    mask[fill_rows, fill_cols] = True
    return Person(np.array(box, np.float32), score, mask=mask, uncertain=uncertain)


def _host() -> Person:
    return _walker([100, 60, 140, 200], slice(62, 198), slice(104, 136), 0.95)  # fill 75 %


def _scene(*people: Person) -> Scene:
    image = np.random.default_rng(0).integers(0, 255, SIZE + (3,), dtype=np.uint8)
    return Scene(Frame(image, "x.png"), people=list(people), target="people")


def test_a_second_box_over_a_walker_joins_him():
    # vtest frame 600: a sure second box over a walker and his stride, 55 % inside, 3 % fill.
    dup = _walker([110, 60, 165, 200], slice(100, 110), slice(150, 160), 0.55)
    host_region, dup_region = _scene(_host(), dup).regions()
    assert not dup_region.mask.any()
    assert host_region.mask[60:200, 110:165].all()  # the duplicate's whole box
    assert host_region.box[2] >= 165


def test_an_uncertain_sliver_beside_a_walker_is_covered_with_him_not_painted_black():
    # vtest_0625_crop: a weak box over a walker and a person cut by the image edge.
    weak = _walker([90, 60, 130, 230], slice(100, 104), slice(120, 124), 0.3, uncertain=True)
    scene = _scene(_host(), weak)
    host_region, weak_region = scene.regions()
    assert host_region.mask[60:230, 90:130].all() and not weak_region.mask.any()
    result = run_guarded(load_method("blur"), scene, np.random.default_rng(0))
    # Blurred with the host, nowhere filled black, and the weak row says why.
    changed = np.abs(result.image.astype(int) - scene.image.astype(int)).max(axis=2) > 0
    assert changed[60:230, 90:130].mean() > 0.95
    assert (result.image[host_region.mask] != 0).any(axis=1).all()
    assert result.regions[1].outcome.value == "skipped"
    assert result.regions[1].reason == EMPTY_REGION


def test_two_people_with_their_own_masks_stay_two():
    # Overlapping people at a table: each segmented, neither folds into the other.
    other = _walker([115, 70, 160, 210], slice(72, 208), slice(132, 158), 0.8)
    host_region, other_region = _scene(_host(), other).regions()
    assert other_region.mask.sum() == other.mask.sum()
    assert not host_region.mask[:, 140:].any()


def test_a_box_mostly_outside_the_walker_keeps_its_own_region():
    apart = _walker([130, 60, 200, 200], slice(100, 104), slice(180, 184), 0.6)  # 14 % inside
    _, apart_region = _scene(_host(), apart).regions()
    assert apart_region.mask[60:200, 130:200].all()


def test_a_box_over_a_group_is_filled_only_away_from_its_people():
    # vtest frame 300: MoveNet's 273x114 px box over four walkers, sure at 0.67; its crop's
    # pose mask is one walker's, and its keypoint discs fall on the others' heads and feet.
    walkers = [_walker([x, 60, x + 40, 200], slice(62, 198), slice(x + 4, x + 36), 0.95)
               for x in (20, 80, 140)]
    group_mask = np.zeros(SIZE, bool)
    group_mask[70:190, 82:118] = True  # the middle walker again
    group_mask[150:160, 240:250] = True  # and a blob nobody else explains
    group = Person(np.array([10, 50, 290, 210], np.float32), 0.67, mask=group_mask)
    regions = _scene(*walkers, group).regions()
    assert regions[-1].uncertain
    assert regions[-1].mask[150:160, 240:250].all()  # filled, fail closed
    assert not regions[-1].mask[:, :200].any()  # nothing over the walkers' stand-ins
    assert all(r.mask.sum() >= walkers[0].mask.sum() for r in regions[:3])


def test_a_group_box_without_a_segmentation_of_its_own_is_not_a_black_bar():
    # Mask-out's pose-free people stage gives a box its box as mask when the segmenter finds
    # next to nothing in its crop: over a group that was a 273x174 px bar over pavement.
    walkers = [_walker([x, 60, x + 40, 200], slice(62, 198), slice(x + 4, x + 36), 0.95)
               for x in (20, 140)]
    box = np.array([10, 50, 290, 210], np.float32)
    whole = np.zeros(SIZE, bool)
    whole[50:210, 10:290] = True
    # And a weak street-wide box (vtest frame 700: 619x197 px at 0.28) whose keypoint discs
    # painted black over four stand-ins.
    weak = Person(box, 0.28, uncertain=True, mask=whole,
                  keypoints_coco17=np.array([[30 + 10 * i, 70, 0.9] for i in range(17)],
                                            np.float32))
    for group in (Person(box, 0.67, mask=whole), Person(box, 0.67), weak):
        regions = _scene(*walkers, group).regions()
        assert regions[-1].uncertain and not regions[-1].mask.any()


def test_tracked_people_are_not_folded():
    # Video: walkers cross; a fold that comes and goes would flicker their stand-ins.
    host, dup = _host(), _walker([110, 60, 165, 200], slice(100, 110), slice(150, 160), 0.55)
    host.track_id, dup.track_id = 1, 2
    _, dup_region = _scene(host, dup).regions()
    assert dup_region.mask[60:200, 110:165].any()
