"""Build a rating study: which images, which questions, each annotator's order, checks.

Every image is re-encoded into the study folder under a random id, in one format and size
for all methods, with its metadata dropped: a file name, a PNG text chunk, a different
format or resolution would tell an annotator which method (or the original) made it.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from understudy.attributes import describe_value
from understudy.errors import UsageError
from understudy.rating.attribute_file import AttributeTable, load_attributes
from understudy.rating.store import Annotator, StudyStore

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ORIGINAL = "original"
CHECK = "_check"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

LIKERT_REALISM = [("1", "clearly fake"), ("2", "rather fake"), ("3", "can't say"),
                  ("4", "rather real"), ("5", "clearly real")]
LIKERT_IDENTITY = [("1", "certainly not"), ("2", "probably not"), ("3", "can't say"),
                   ("4", "probably"), ("5", "certainly the same person")]
LIKERT_MATCH = [("1", "not at all"), ("2", "hardly"), ("3", "partly"), ("4", "mostly"),
                ("5", "completely")]
CANT_TELL = "can't tell"


@dataclass
class StudyOptions:
    """How a study is built; stored in the database so that export knows what was asked."""

    annotators: int = 3
    items_per_annotator: int = 0  # 0: every annotator rates every item (best for agreement)
    attention_checks: int = -1  # -1: about 5 % of the items, at least 2
    rate_originals: bool = True  # realism of the originals: the reference row of the table
    identity: bool = True
    attribute_question: str = "match"  # "match": 1-5 fit to the prompt; "choice": pick a value
    allow_changes: bool = True  # an annotator may go back and change an answer
    max_side: int = 768
    image_format: str = "jpeg"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.annotators < 0:
            raise UsageError(f"annotators must be >= 0, got {self.annotators}")
        if self.items_per_annotator < 0:
            raise UsageError(f"items_per_annotator must be >= 0 (0 = all), "
                             f"got {self.items_per_annotator}")
        if self.attention_checks < -1:
            raise UsageError(f"attention_checks must be >= 0, or -1 for automatic, "
                             f"got {self.attention_checks}")
        if self.attribute_question not in ("match", "choice"):
            raise UsageError(f"attribute_question must be 'match' or 'choice', "
                             f"got {self.attribute_question!r}")
        if not 64 <= self.max_side <= 4096:
            raise UsageError(f"max_side must be within 64-4096 pixels, got {self.max_side}")
        if self.image_format not in ("jpeg", "png"):
            raise UsageError(f"image_format must be 'jpeg' or 'png', got {self.image_format!r}")


def study_dir(name: str, studies_dir: str | Path = "studies") -> Path:
    """The folder of study NAME; a name, never a path, so links and files stay predictable."""
    if not NAME_RE.match(name or ""):
        raise UsageError(f"--study {name!r}: use letters, digits, '_', '.', '-' "
                         "(at most 64, starting with a letter or digit)")
    return Path(studies_dir) / name


def open_study(name: str, studies_dir: str | Path = "studies") -> StudyStore:
    store = StudyStore(study_dir(name, studies_dir) / "study.sqlite")
    store.check()
    return store


def find_images(folder: Path) -> dict[str, Path]:
    """Images under ``folder`` keyed by their relative POSIX path, sorted."""
    if not folder.is_dir():
        raise UsageError(f"no folder at {folder}")
    found = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
    return found


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def parse_anonymized(specs: list[str]) -> dict[str, Path]:
    """``NAME=DIR`` pairs from the command line, names unique and not reserved."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        name = name.strip()
        if not sep or not name or not folder:
            raise UsageError(f"--anonymized {spec!r}: write NAME=DIR, e.g. refsd=out/refsd")
        if name == ORIGINAL or name.startswith("_") or not NAME_RE.match(name):
            raise UsageError(f"--anonymized {spec!r}: {name!r} is not a usable method name "
                             f"(letters, digits, '_.-'; not {ORIGINAL!r})")
        if name in out:
            raise UsageError(f"--anonymized: method {name!r} given twice")
        out[name] = Path(folder)
    if not out:
        raise UsageError("give at least one --anonymized NAME=DIR")
    return out


def _encode(src: Path | np.ndarray, dest_dir: Path, options: StudyOptions) -> str:
    """Re-encode one image under a random id, metadata dropped; returns the file name."""
    from PIL import Image, ImageOps

    try:
        if isinstance(src, np.ndarray):
            img = Image.fromarray(src)
        else:
            with Image.open(src) as opened:
                img = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read image {src}: {exc}") from None
    img.thumbnail((options.max_side, options.max_side), Image.Resampling.LANCZOS)
    image_id = secrets.token_hex(8)
    suffix = ".jpg" if options.image_format == "jpeg" else ".png"
    fname = image_id + suffix
    if options.image_format == "jpeg":
        img.save(dest_dir / fname, "JPEG", quality=92)
    else:
        img.save(dest_dir / fname, "PNG")
    return fname


def _scrambled(path: Path, rng: np.random.Generator, grid: int = 6) -> np.ndarray:
    """An original cut into a shuffled grid of tiles: plainly not a real photo (realism check)."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        img = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    h, w = (img.shape[0] // grid) * grid, (img.shape[1] // grid) * grid
    tiles = [img[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid]
             for r in range(grid) for c in range(grid)]
    order = rng.permutation(len(tiles))
    rows = [np.concatenate([tiles[order[r * grid + c]] for c in range(grid)], axis=1)
            for r in range(grid)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def create_study(name: str, original: str | Path, anonymized: dict[str, Path],
                 attributes: str | Path | None = None, options: StudyOptions | None = None,
                 studies_dir: str | Path = "studies") -> StudyStore:
    """Create study NAME: images, items with questions, attention checks, annotators."""
    options = options or StudyOptions()
    folder = study_dir(name, studies_dir)
    if folder.exists():
        raise UsageError(f"study {name!r} already exists at {folder}; pick another name or "
                         "delete that folder")
    originals = find_images(Path(original))
    if not originals:
        raise UsageError(f"--original {original}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    by_stem = {_stem(k): k for k in originals}
    method_images: dict[str, dict[str, Path]] = {}
    for method, mdir in anonymized.items():
        found = find_images(mdir)
        if not found:
            raise UsageError(f"--anonymized {method}={mdir}: no images found")
        method_images[method] = found
    table = (load_attributes(attributes, list(anonymized)) if attributes else AttributeTable())
    rng = np.random.default_rng(options.seed)

    folder.mkdir(parents=True)
    try:
        return _build(folder, name, originals, by_stem, method_images, table, options, rng)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _build(folder: Path, name: str, originals: dict[str, Path], by_stem: dict[str, str],
           method_images: dict[str, dict[str, Path]], table: AttributeTable,
           options: StudyOptions, rng: np.random.Generator) -> StudyStore:
    (folder / "images").mkdir()
    store = StudyStore(folder / "study.sqlite")
    store.initialize()
    images: list[tuple] = []  # (id, file, method, name, attributes)
    items: list[tuple] = []  # (id, kind, image_id, reference_id, reference_left, check_kind)
    questions: list[tuple] = []  # (item_id, position, kind, attribute, target, text, choices, scale, expected)
    positions: dict[str, int] = {}
    attribute_names = table.names
    choice_values = {a: table.values(a) for a in attribute_names}

    def add_image(src: Path | np.ndarray, method: str, image_name: str, attrs: dict) -> str:
        fname = _encode(src, folder / "images", options)
        image_id = fname.split(".")[0]
        images.append((image_id, f"images/{fname}", method, image_name, json.dumps(attrs)))
        return image_id

    def add_item(kind: str, image_id: str, reference: str | None = None,
                 check: str | None = None) -> str:
        item_id = secrets.token_hex(8)
        left = int(rng.integers(0, 2)) if kind == "pair" else 1
        items.append((item_id, kind, image_id, reference, left, check))
        return item_id

    def add_question(item_id: str, kind: str, text: str, choices: list[tuple[str, str]],
                     scale: str = "likert", attribute: str | None = None,
                     target: str | None = None, expected: list[str] | None = None) -> None:
        position = positions.get(item_id, 0)
        positions[item_id] = position + 1
        questions.append((item_id, position, kind, attribute, target, text, json.dumps(choices),
                          scale, json.dumps(expected) if expected else None))

    realism_text = "How real does this photo of a person look?"
    identity_text = "Could photos A and B show the same person?"
    original_ids = {k: add_image(p, ORIGINAL, k, {}) for k, p in originals.items()}
    if options.rate_originals:
        for key, image_id in original_ids.items():
            add_question(add_item("image", image_id), "realism", realism_text, LIKERT_REALISM)
    for method, found in method_images.items():
        for key, path in found.items():
            attrs = table.lookup(method, key)
            image_id = add_image(path, method, key, attrs)
            item = add_item("image", image_id)
            add_question(item, "realism", realism_text, LIKERT_REALISM)
            for attribute in attribute_names:
                if attribute not in attrs:
                    continue
                target = attrs[attribute]
                if options.attribute_question == "match":
                    add_question(item, "attribute", f"Does the person look "
                                 f"{describe_value(attribute, target)} ({attribute})?",
                                 LIKERT_MATCH, attribute=attribute,
                                 target=target)
                else:
                    choices = [(v, v) for v in choice_values[attribute]] + [(CANT_TELL, CANT_TELL)]
                    add_question(item, "attribute", f"What {attribute} does the person look?",
                                 choices, scale="choice", attribute=attribute, target=target)
            original_key = by_stem.get(_stem(key))
            if options.identity and original_key is not None:
                pair = add_item("pair", image_id, original_ids[original_key])
                add_question(pair, "identity", identity_text, LIKERT_IDENTITY)

    n_real = len(items)
    n_checks = options.attention_checks
    if n_checks == -1:
        n_checks = max(2, round(0.05 * n_real))
    original_keys = list(originals)
    for n in range(n_checks):
        key = original_keys[int(rng.integers(len(original_keys)))]
        if n % 2 == 0 or not options.identity:
            # A photo that is cut into shuffled tiles is not a real photo of a person.
            image_id = add_image(_scrambled(originals[key], rng), CHECK, f"scrambled:{key}", {})
            add_question(add_item("image", image_id, check="scrambled-realism"), "realism",
                         realism_text, LIKERT_REALISM, expected=["1", "2"])
        else:
            # The same photo on both sides is the same person. A copy under its own id: one
            # id on both sides (or an id already seen elsewhere) would give the check away.
            image_id = add_image(originals[key], CHECK, f"same:{key}", {})
            reference = original_ids[key]
            add_question(add_item("pair", image_id, reference, check="same-photo-identity"),
                         "identity", identity_text, LIKERT_IDENTITY, expected=["4", "5"])

    with store.transaction() as conn:
        conn.executemany("INSERT INTO images VALUES (?, ?, ?, ?, ?)", images)
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", items)
        conn.executemany("INSERT INTO questions(item_id, position, kind, attribute, target, text, "
                         "choices, scale, expected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", questions)
    store.set_meta(name=name, created_at=time.time(), options=asdict(options),
                   admin_token=secrets.token_urlsafe(18), methods=list(method_images),
                   attributes=attribute_names, next_annotator_seed=0)
    add_annotators(store, options.annotators)
    return store


def add_annotators(store: StudyStore, count: int) -> list[Annotator]:
    """New annotators, each with a random token and an own random item order.

    With ``items_per_annotator`` each one gets the items that have been assigned least so
    far (ties broken at random), plus every attention check.
    """
    meta = store.meta()
    options = StudyOptions(**meta["options"])
    checks = set(store.item_ids(checks=True))
    real = store.item_ids(checks=False)
    existing = {a.label for a in store.annotators()}
    made = []
    for _ in range(count):
        seed_index = int(store.meta()["next_annotator_seed"])
        rng = np.random.default_rng([options.seed, 1 + seed_index])
        chosen = list(real)
        if options.items_per_annotator and options.items_per_annotator < len(real):
            counts = store.assignment_counts()
            tiebreak = rng.random(len(real))
            order = sorted(range(len(real)), key=lambda i: (counts.get(real[i], 0), tiebreak[i]))
            chosen = [real[i] for i in order[:options.items_per_annotator]]
        ids = chosen + sorted(checks)
        ids = [ids[i] for i in rng.permutation(len(ids))]
        number = seed_index + 1
        while f"A{number}" in existing:
            number += 1
        label = f"A{number}"
        existing.add(label)
        made.append(store.add_annotator(label, secrets.token_urlsafe(18), ids))
        store.set_meta(next_annotator_seed=seed_index + 1)
    return made
