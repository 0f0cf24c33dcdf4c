"""The study's SQLite store: images, items, questions, annotators, assignments, answers.

SQLite in WAL mode lets one writer and many readers work at once; every answer is its own
short ``BEGIN IMMEDIATE`` transaction, and ``UNIQUE(annotator_id, question_id)`` makes a
double submission (double click, network retry) update one row instead of adding a second.
Each call opens its own connection, so the store is safe from the server's worker threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from understudy.errors import UsageError

SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,              -- opaque: what the browser sees
    file TEXT NOT NULL,               -- relative to the study folder
    method TEXT NOT NULL,             -- 'original', a method name, or '_check'
    name TEXT NOT NULL,               -- the image's path relative to its input folder
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,              -- opaque
    kind TEXT NOT NULL CHECK (kind IN ('image', 'pair')),
    image_id TEXT NOT NULL REFERENCES images(id),
    reference_id TEXT REFERENCES images(id),
    reference_left INTEGER NOT NULL DEFAULT 1,
    check_kind TEXT                   -- NULL for real items, else the attention check's kind
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL REFERENCES items(id),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('realism', 'identity', 'attribute')),
    attribute TEXT,                   -- for kind 'attribute': which one (age, gender, ...)
    target TEXT,                      -- the prompted value for 'attribute'
    text TEXT NOT NULL,
    choices TEXT NOT NULL,            -- JSON [[value, label], ...]
    scale TEXT NOT NULL CHECK (scale IN ('likert', 'choice')),
    expected TEXT,                    -- attention checks: JSON list of accepted values
    UNIQUE (item_id, position)
);
CREATE TABLE IF NOT EXISTS annotators (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(id),
    PRIMARY KEY (annotator_id, position),
    UNIQUE (annotator_id, item_id)
);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    question_id INTEGER NOT NULL REFERENCES questions(id),
    value TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 0,
    UNIQUE (annotator_id, question_id)
);
"""


class AnswerRejected(Exception):
    """An answer that cannot be stored: unknown question, value out of range, locked answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Question:
    id: int
    position: int
    kind: str
    attribute: str | None
    target: str | None
    text: str
    choices: list[tuple[str, str]]
    scale: str
    expected: list[str] | None


@dataclass
class ItemView:
    """What one annotator sees for one item: opaque image ids, questions, own answers."""

    id: str
    kind: str
    position: int
    images: list[str]  # opaque image ids, left to right
    questions: list[Question]
    answers: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Annotator:
    id: int
    label: str
    token: str


class StudyStore:
    """Access to one study database; cheap to build, one connection per call."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- connections ---------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front so that two writers
        queue on busy_timeout instead of failing halfway with 'database is locked'."""
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def initialize(self) -> None:
        conn = self.connect()
        try:
            # WAL is a property of the file: set once, every later connection uses it.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()
        self.set_meta(schema_version=SCHEMA_VERSION)

    def check(self) -> None:
        """Fail with a teaching message when the path is not a study database."""
        if not self.path.is_file():
            raise UsageError(f"no study database at {self.path}; create one with "
                             "'understudy rate create'")
        try:
            version = self.meta().get("schema_version")
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{self.path} is not a study database ({exc})") from None
        if version != SCHEMA_VERSION:
            raise UsageError(f"{self.path} has study schema {version!r}; this understudy "
                             f"reads schema {SCHEMA_VERSION!r}")

    # -- meta ------------------------------------------------------------------------
    def set_meta(self, **values: Any) -> None:
        with self.transaction() as conn:
            for key, value in values.items():
                conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def meta(self) -> dict[str, Any]:
        with self.reading() as conn:
            return {r["key"]: json.loads(r["value"])
                    for r in conn.execute("SELECT key, value FROM meta")}

    # -- annotators ------------------------------------------------------------------
    def annotators(self) -> list[Annotator]:
        with self.reading() as conn:
            rows = conn.execute("SELECT id, label, token FROM annotators ORDER BY id").fetchall()
        return [Annotator(r["id"], r["label"], r["token"]) for r in rows]

    def annotator_by_token(self, token: str) -> Annotator | None:
        if not token or len(token) > 200:
            return None
        with self.reading() as conn:
            row = conn.execute("SELECT id, label, token FROM annotators WHERE token = ?",
                               (token,)).fetchone()
        return Annotator(row["id"], row["label"], row["token"]) if row else None

    def add_annotator(self, label: str, token: str, item_ids: list[str]) -> Annotator:
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO annotators(label, token, created_at) VALUES (?, ?, ?)",
                               (label, token, time.time()))
            annotator_id = int(cur.lastrowid)
            conn.executemany(
                "INSERT INTO assignments(annotator_id, position, item_id) VALUES (?, ?, ?)",
                [(annotator_id, pos, item) for pos, item in enumerate(item_ids)])
        return Annotator(annotator_id, label, token)

    def assignment_counts(self) -> dict[str, int]:
        """How many annotators each item is assigned to (for balanced assignment)."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT items.id AS id, items.check_kind AS check_kind, COUNT(a.annotator_id) AS n "
                "FROM items LEFT JOIN assignments a ON a.item_id = items.id GROUP BY items.id"
            ).fetchall()
        return {r["id"]: int(r["n"]) for r in rows}

    # -- items -----------------------------------------------------------------------
    def item_ids(self, checks: bool | None = None) -> list[str]:
        sql = "SELECT id FROM items"
        if checks is True:
            sql += " WHERE check_kind IS NOT NULL"
        elif checks is False:
            sql += " WHERE check_kind IS NULL"
        with self.reading() as conn:
            return [r["id"] for r in conn.execute(sql + " ORDER BY rowid")]

    def count_assigned(self, annotator: Annotator) -> int:
        with self.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM assignments WHERE annotator_id = ?",
                                    (annotator.id,)).fetchone()[0])

    def progress(self, annotator: Annotator) -> tuple[int, int]:
        """(items fully answered, items assigned)."""
        with self.reading() as conn:
            done = conn.execute(
                "SELECT COUNT(*) FROM assignments s WHERE s.annotator_id = :a AND NOT EXISTS ("
                " SELECT 1 FROM questions q WHERE q.item_id = s.item_id AND NOT EXISTS ("
                "  SELECT 1 FROM answers w WHERE w.question_id = q.id AND w.annotator_id = :a))",
                {"a": annotator.id}).fetchone()[0]
            total = conn.execute("SELECT COUNT(*) FROM assignments WHERE annotator_id = ?",
                                 (annotator.id,)).fetchone()[0]
        return int(done), int(total)

    def first_open_position(self, annotator: Annotator) -> int | None:
        """The first assigned position with an unanswered question, or None when all done."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT MIN(s.position) FROM assignments s JOIN questions q ON q.item_id = s.item_id "
                "WHERE s.annotator_id = :a AND NOT EXISTS (SELECT 1 FROM answers w "
                " WHERE w.question_id = q.id AND w.annotator_id = :a)",
                {"a": annotator.id}).fetchone()
        return None if row[0] is None else int(row[0])

    def item_at(self, annotator: Annotator, position: int) -> ItemView | None:
        with self.reading() as conn:
            row = conn.execute(
                "SELECT i.* FROM assignments s JOIN items i ON i.id = s.item_id "
                "WHERE s.annotator_id = ? AND s.position = ?", (annotator.id, position)).fetchone()
            if row is None:
                return None
            return self._view(conn, annotator, row, position)

    def item_by_id(self, annotator: Annotator, item_id: str) -> ItemView | None:
        """The item if it is assigned to this annotator, else None (never another's)."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT i.*, s.position AS position FROM assignments s JOIN items i "
                "ON i.id = s.item_id WHERE s.annotator_id = ? AND s.item_id = ?",
                (annotator.id, item_id)).fetchone()
            if row is None:
                return None
            return self._view(conn, annotator, row, int(row["position"]))

    def _view(self, conn: sqlite3.Connection, annotator: Annotator, row: sqlite3.Row,
              position: int) -> ItemView:
        images = [row["image_id"]]
        if row["kind"] == "pair":
            images = ([row["reference_id"], row["image_id"]] if row["reference_left"]
                      else [row["image_id"], row["reference_id"]])
        questions = [_question(q) for q in conn.execute(
            "SELECT * FROM questions WHERE item_id = ? ORDER BY position", (row["id"],))]
        answers = {int(r["question_id"]): r["value"] for r in conn.execute(
            "SELECT w.question_id, w.value FROM answers w JOIN questions q ON q.id = w.question_id "
            "WHERE q.item_id = ? AND w.annotator_id = ?", (row["id"], annotator.id))}
        return ItemView(row["id"], row["kind"], position, images, questions, answers)

    def image_file_for(self, annotator: Annotator, image_id: str) -> Path | None:
        """The image's file if one of this annotator's items shows it, else None."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT img.file FROM images img WHERE img.id = :img AND EXISTS ("
                " SELECT 1 FROM assignments s JOIN items i ON i.id = s.item_id "
                " WHERE s.annotator_id = :a AND (i.image_id = :img OR i.reference_id = :img))",
                {"img": image_id, "a": annotator.id}).fetchone()
        return None if row is None else self.path.parent / row["file"]

    # -- answers ---------------------------------------------------------------------
    def save_answer(self, annotator: Annotator, item_id: str, question_id: int, value: str,
                    allow_changes: bool = True) -> tuple[bool, int]:
        """Store one answer in its own transaction; returns (created, revisions).

        The same value twice is a no-op; a different value updates the row when changes are
        allowed and is rejected (409) otherwise. Never two rows for one question.
        """
        with self.transaction() as conn:
            q = conn.execute(
                "SELECT q.* FROM questions q JOIN assignments s ON s.item_id = q.item_id "
                "WHERE q.id = ? AND q.item_id = ? AND s.annotator_id = ?",
                (question_id, item_id, annotator.id)).fetchone()
            if q is None:
                raise AnswerRejected(404, "unknown item or question")
            question = _question(q)
            allowed = [v for v, _ in question.choices]
            if value not in allowed:
                raise AnswerRejected(422, f"value {value!r} is not one of {allowed}")
            now = time.time()
            old = conn.execute("SELECT value, revisions FROM answers WHERE annotator_id = ? "
                               "AND question_id = ?", (annotator.id, question_id)).fetchone()
            if old is None:
                conn.execute("INSERT INTO answers(annotator_id, question_id, value, created_at, "
                             "updated_at) VALUES (?, ?, ?, ?, ?)",
                             (annotator.id, question_id, value, now, now))
                return True, 0
            if old["value"] == value:
                return False, int(old["revisions"])
            if not allow_changes:
                raise AnswerRejected(409, "this question is already answered and answers in "
                                          "this study cannot be changed")
            conn.execute("UPDATE answers SET value = ?, updated_at = ?, revisions = revisions + 1 "
                         "WHERE annotator_id = ? AND question_id = ?",
                         (value, now, annotator.id, question_id))
            return False, int(old["revisions"]) + 1

    def answer_rows(self) -> list[dict[str, Any]]:
        """Every answer joined with what it was about (for export; never served)."""
        with self.reading() as conn:
            rows = conn.execute(
                "SELECT a.label AS annotator, i.id AS item, i.kind AS item_kind, "
                " i.check_kind AS check_kind, img.method AS method, img.name AS image, "
                " img.attributes AS attributes, q.id AS question_id, q.kind AS question, "
                " q.attribute AS attribute, q.target AS target, q.scale AS scale, "
                " q.expected AS expected, w.value AS value, w.created_at AS created_at, "
                " w.updated_at AS updated_at, w.revisions AS revisions "
                "FROM answers w JOIN annotators a ON a.id = w.annotator_id "
                "JOIN questions q ON q.id = w.question_id JOIN items i ON i.id = q.item_id "
                "JOIN images img ON img.id = i.image_id ORDER BY a.id, w.created_at, w.id"
            ).fetchall()
        return [dict(r) for r in rows]

def _question(row: sqlite3.Row) -> Question:
    expected = json.loads(row["expected"]) if row["expected"] else None
    return Question(int(row["id"]), int(row["position"]), row["kind"], row["attribute"],
                    row["target"], row["text"], [tuple(c) for c in json.loads(row["choices"])],
                    row["scale"], expected)
