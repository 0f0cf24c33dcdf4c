"""What CAMOUFLaGE keeps of the original people: gender, age and emotion measured on their
faces, once per tracked person.

``Measurer()(scene, regions, skip) -> [{"gender": "female", "age": "30s", "emotion": "happy"}
| {}]``: one dict per region, empty where there is no face to read (nothing is guessed) or
the region is skipped. In a video a tracked person keeps the first reading of their track
(DESIGN: a stand-in is drawn once per track, not per frame), so a smile that comes and goes
does not flip the caption from frame to frame; readings are forgotten when the source
(video or image) changes, which bounds the memory to one video.
"""

from __future__ import annotations

from typing import Any, Callable

from understudy.scene import Face, Region, Scene


def region_face(region: Region) -> Face | None:
    """The face that describes a region: its own, or the person's largest."""
    if region.face is not None:
        return region.face
    if region.person is not None and region.person.faces:
        return max(region.person.faces,
                   key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    return None


class TrackMemory:
    """The first value computed for each track of the current source."""

    def __init__(self) -> None:
        self.source: str | None = None
        self.values: dict[tuple[str, int], Any] = {}

    def recall(self, source: str, track_id: int | None, key: str,
               compute: Callable[[], Any]) -> Any:
        if track_id is None:
            return compute()
        if source != self.source:
            self.source, self.values = source, {}
        if (key, track_id) not in self.values:
            self.values[(key, track_id)] = compute()
        return self.values[(key, track_id)]


class Measurer:
    """The shipped age/gender/emotion models on each region's face, remembered per track."""

    def __init__(self) -> None:
        self._reader: Any = None  # loaded on the first face
        self.memory = TrackMemory()

    def __call__(self, scene: Scene, regions: list[Region],
                 skip: list[bool] | None = None) -> list[dict[str, str]]:
        skip = skip or [False] * len(regions)
        faces = [region_face(r) for r in regions]
        fresh: dict[int, dict[str, str]] = {}
        todo = [i for i, (f, s) in enumerate(zip(faces, skip)) if f is not None and not s
                and not self._remembered(scene, regions[i])]
        if todo:
            from understudy.perception.attributes_measured import AttributeReader, in_vocabulary

            if self._reader is None:
                self._reader = AttributeReader()
            readings = self._reader(scene.image, [[float(v) for v in faces[i].box] for i in todo])
            fresh = {i: in_vocabulary(r) for i, r in zip(todo, readings)}
        out = []
        for i, region in enumerate(regions):
            if faces[i] is None or skip[i]:
                out.append({})
                continue
            out.append(dict(self.memory.recall(scene.frame.source, region.track_id, "measured",
                                               lambda i=i: fresh[i])))
        return out

    def _remembered(self, scene: Scene, region: Region) -> bool:
        return (region.track_id is not None and self.memory.source == scene.frame.source
                and ("measured", region.track_id) in self.memory.values)
