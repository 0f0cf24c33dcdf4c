"""Every endpoint of the rating app: tokens, isolation, double submissions, concurrency."""

from __future__ import annotations

import io
import re
import threading

import httpx
import pytest
from PIL import Image

from understudy.rating import create_app


def first_item(client, token: str) -> tuple[int, dict]:
    r = client.get(f"/s/{token}/")
    assert r.status_code == 303
    position = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/s/{token}/item/{position}")
    assert page.status_code == 200
    item_id = re.search(r'data-item="([0-9a-f]+)"', page.text).group(1)
    return position, client.get(f"/s/{token}/api/item/{item_id}").json()


def test_study_structure(study):
    # 4 originals rated for realism, per method 4 images + 4 identity pairs, 2 checks
    assert len(study.item_ids(checks=False)) == 4 + 2 * (4 + 4)
    assert len(study.item_ids(checks=True)) == 2
    annotators = study.annotators()
    assert len(annotators) == 3 and len({a.token for a in annotators}) == 3
    orders = [[study.item_at(a, p).id for p in range(22)] for a in annotators]
    assert all(sorted(o) == sorted(orders[0]) for o in orders)
    assert orders[0] != orders[1]  # each annotator gets an own order


def test_bad_tokens_everywhere(client, study):
    good = study.annotators()[0].token
    _, item = first_item(client, good)
    for bad in ("nope", "x" * 24, good[:-1] + ("A" if good[-1] != "A" else "B")):
        requests = [("GET", f"/s/{bad}/"), ("GET", f"/s/{bad}"), ("GET", f"/s/{bad}/item/0"),
                    ("POST", f"/s/{bad}/item/0"), ("GET", f"/s/{bad}/done"),
                    ("GET", f"/s/{bad}/progress"), ("GET", f"/s/{bad}/api/item/{item['item']}"),
                    ("GET", f"/s/{bad}/image/{item['images'][0]}"), ("GET", f"/admin/{bad}")]
        for method, url in requests:
            r = client.request(method, url)
            assert r.status_code == 403, (method, url, r.status_code)
            assert item["item"] not in r.text
        r = client.post(f"/s/{bad}/answer", json={"item": item["item"],
                                                 "question": item["questions"][0]["id"],
                                                 "value": "3"})
        assert r.status_code == 403
    assert client.get("/").status_code == 404
    assert client.get("/docs").status_code == 404  # no API explorer on a study server
    assert study.answer_rows() == []


def test_pages_and_images_are_blind(client, study):
    token = study.annotators()[0].token
    seen_formats = set()
    for position in range(study.count_assigned(study.annotators()[0])):
        page = client.get(f"/s/{token}/item/{position}")
        assert page.status_code == 200
        for word in ("blur", "refsd", "original", "person0", ".png", "_check", "scrambled"):
            assert word not in page.text.lower(), (word, position)
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "script-src 'nonce-" in page.headers["content-security-policy"]
        for image_id in re.findall(r"/image/([0-9a-f]+)", page.text):
            r = client.get(f"/s/{token}/image/{image_id}")
            assert r.status_code == 200
            assert b"understudy" not in r.content  # the PNG text chunk is gone
            img = Image.open(io.BytesIO(r.content))
            seen_formats.add((img.format, r.headers["content-type"]))
            assert not img.info.get("exif")
    assert seen_formats == {("JPEG", "image/jpeg")}


def test_unknown_items_questions_values(client, make_study):
    study = make_study("sub", items_per_annotator=5)
    a, b = study.annotators()[:2]
    _, item_a = first_item(client := _client(study), a.token)
    total_b = study.count_assigned(b)
    assert total_b == 5 + 2
    assert client.get(f"/s/{a.token}/item/999").status_code == 404
    assert client.get(f"/s/{a.token}/item/-1").status_code == 404
    assert client.get(f"/s/{a.token}/api/item/deadbeef").status_code == 404
    assert client.get(f"/s/{a.token}/image/deadbeef").status_code == 404
    # an item/image of another annotator's subset is not reachable with A's token
    b_items = {study.item_at(b, p).id for p in range(total_b)}
    a_items = {study.item_at(a, p).id for p in range(study.count_assigned(a))}
    foreign = sorted(b_items - a_items)
    assert foreign, "balanced assignment should give A and B different items"
    view = study.item_by_id(b, foreign[0])
    assert client.get(f"/s/{a.token}/api/item/{foreign[0]}").status_code == 404
    assert client.post(f"/s/{a.token}/answer", json={
        "item": foreign[0], "question": view.questions[0].id, "value": "3"}).status_code == 404
    q = item_a["questions"][0]["id"]
    cases = [({"item": item_a["item"], "question": 10**6, "value": "3"}, 404),
             ({"item": item_a["item"], "question": q, "value": "7"}, 422),
             ({"item": item_a["item"], "question": q, "value": True}, 400),
             ({"item": item_a["item"], "question": "x", "value": "3"}, 400),
             ({"item": item_a["item"]}, 400)]
    for body, status in cases:
        assert client.post(f"/s/{a.token}/answer", json=body).status_code == status, body
    assert client.post(f"/s/{a.token}/answer", content=b"not json",
                       headers={"content-type": "application/json"}).status_code == 400
    assert study.answer_rows() == []


def _client(study):
    from fastapi.testclient import TestClient

    return TestClient(create_app(study), follow_redirects=False)


def test_double_submission_and_changes(client, study):
    a = study.annotators()[0]
    _, item = first_item(client, a.token)
    q = item["questions"][0]["id"]
    body = {"item": item["item"], "question": q, "value": "4"}
    first = client.post(f"/s/{a.token}/answer", json=body).json()
    second = client.post(f"/s/{a.token}/answer", json=body).json()
    assert first["created"] is True and second["created"] is False
    assert len(study.answer_rows()) == 1
    changed = client.post(f"/s/{a.token}/answer", json={**body, "value": "2"}).json()
    assert changed["revisions"] == 1
    rows = study.answer_rows()
    assert len(rows) == 1 and rows[0]["value"] == "2" and rows[0]["revisions"] == 1


def test_locked_study_rejects_changes(make_study):
    study = make_study("locked", allow_changes=False)
    client = _client(study)
    a = study.annotators()[0]
    _, item = first_item(client, a.token)
    body = {"item": item["item"], "question": item["questions"][0]["id"], "value": "4"}
    assert client.post(f"/s/{a.token}/answer", json=body).status_code == 200
    assert client.post(f"/s/{a.token}/answer", json=body).status_code == 200  # idempotent
    r = client.post(f"/s/{a.token}/answer", json={**body, "value": "1"})
    assert r.status_code == 409
    assert [row["value"] for row in study.answer_rows()] == ["4"]


def test_annotators_cannot_read_each_other(client, study):
    a, b = study.annotators()[:2]
    _, item = first_item(client, a.token)
    for q in item["questions"]:
        client.post(f"/s/{a.token}/answer", json={"item": item["item"], "question": q["id"],
                                                  "value": q["choices"][0][0]})
    own = client.get(f"/s/{a.token}/api/item/{item['item']}").json()
    assert len(own["answers"]) == len(item["questions"])
    theirs = client.get(f"/s/{b.token}/api/item/{item['item']}").json()  # all items shared
    assert theirs["answers"] == {}
    page_a = client.get(f"/s/{a.token}/item/{own['position']}")
    assert re.search(r"<input[^>]*\bchecked\b", page_a.text)  # A sees A's own answers
    position_b = theirs["position"]
    page = client.get(f"/s/{b.token}/item/{position_b}")
    assert not re.search(r"<input[^>]*\bchecked\b", page.text)
    assert client.get(f"/s/{a.token}/progress").json()["done"] == 1
    assert client.get(f"/s/{b.token}/progress").json()["done"] == 0


def test_form_flow_to_done(client, study):
    a = study.annotators()[0]
    total = study.count_assigned(a)
    r = client.get(f"/s/{a.token}")
    assert r.status_code == 303
    for position in range(total):
        view = study.item_at(a, position)
        incomplete = client.post(f"/s/{a.token}/item/{position}", data={})
        assert incomplete.status_code == 422 and "answer every question" in incomplete.text
        data = {f"q{q.id}": q.choices[-1][0] for q in view.questions}
        r = client.post(f"/s/{a.token}/item/{position}", data=data)
        assert r.status_code == 303
    assert r.headers["location"].endswith("/done")
    done = client.get(f"/s/{a.token}/done")
    assert 'id="done"' in done.text
    assert client.get(f"/s/{a.token}/").headers["location"].endswith("/done")
    n_questions = sum(len(study.item_at(a, p).questions) for p in range(total))
    assert len(study.answer_rows()) == n_questions
    assert client.get(f"/s/{a.token}/progress").json() == {"done": total, "total": total}


def test_admin_page_shows_progress_not_answers(client, study):
    admin = study.meta()["admin_token"]
    r = client.get(f"/admin/{admin}")
    assert r.status_code == 200
    for a in study.annotators():
        assert a.label in r.text
    wrong = admin[:-1] + ("y" if admin.endswith("x") else "x")  # a token that ends in x exists
    assert client.get(f"/admin/{wrong}").status_code == 403


def test_concurrent_annotators_lose_no_answers(live_server):
    base, study = live_server
    annotators = study.annotators()
    jobs = []
    for a in annotators:
        for position in range(study.count_assigned(a)):
            view = study.item_at(a, position)
            for q in view.questions:
                jobs.append((a.token, view.id, q.id, q.choices[(q.id + len(a.label)) % len(q.choices)][0]))
    errors: list[str] = []

    def worker(chunk):
        with httpx.Client(base_url=base, timeout=30) as http:
            for token, item, question, value in chunk:
                for _ in range(2):  # every answer sent twice: retries must not duplicate
                    r = http.post(f"/s/{token}/answer",
                                  json={"item": item, "question": question, "value": value})
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=worker, args=(jobs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = study.answer_rows()
    assert len(rows) == len(jobs)
    stored = {(r["annotator"], r["question_id"]): r["value"] for r in rows}
    labels = {a.token: a.label for a in annotators}
    assert stored == {(labels[t], q): v for t, _, q, v in jobs}


@pytest.mark.parametrize("journal", ["wal"])
def test_database_is_wal(study, journal):
    with study.reading() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
