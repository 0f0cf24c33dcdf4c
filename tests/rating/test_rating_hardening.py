"""Issue 16, defect 10: what a hostile annotator or web page could do to a study."""

from __future__ import annotations

import csv
import re

from understudy.rating.export import CSV_COLUMNS, _write_csv


def test_csv_cells_never_start_a_formula(tmp_path):
    row = {"annotator": "=HYPERLINK(\"http://evil.example\",\"click\")", "excluded": False,
           "item": "i1", "item_kind": "image", "check_kind": None, "method": "+cmd|' /C calc'!A0",
           "image": "-2+3.png", "question": "@SUM(A1)", "attribute": "age", "target": "\tx",
           "prompt_complexity": 1, "value": "4", "score": -0.5, "check_passed": None,
           "created_at": 1.0, "updated_at": 2.0, "revisions": 0}
    _write_csv(tmp_path / "answers.csv", [row])
    with open(tmp_path / "answers.csv", newline="", encoding="utf-8") as fh:
        header, cells = list(csv.reader(fh))
    assert tuple(header) == CSV_COLUMNS
    texts = [c for c, v in zip(cells, row.values()) if isinstance(v, str)]
    assert texts and not any(c.startswith(("=", "+", "-", "@", "\t")) for c in texts)
    assert cells[CSV_COLUMNS.index("score")] == "-0.5"  # a number stays a number
    from understudy.rating.export import safe_cell

    assert safe_cell("plain") == "plain" and safe_cell("=1") == "'=1"


def test_posts_from_another_site_are_refused(client, study):
    a = study.annotators()[0]
    page = client.get(f"/s/{a.token}/").headers["location"]
    item_page = client.get(page).text
    item = re.search(r'data-item="([0-9a-f]+)"', item_page).group(1)
    view = client.get(f"/s/{a.token}/api/item/{item}").json()
    body = {"item": view["item"], "question": view["questions"][0]["id"], "value": "4"}
    url = f"/s/{a.token}/answer"
    assert client.post(url, json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post(url, json=body, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post(page, data={}, headers={"Origin": "null"}).status_code == 403
    assert client.post(page, data={}, headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"}
                       ).status_code == 403
    assert study.answer_rows() == []
    ok = client.post(url, json=body, headers={"Origin": "http://testserver"})
    assert ok.status_code == 200 and len(study.answer_rows()) == 1
    # What Chromium sends for our own no-referrer pages (the browser test posts a real form).
    same = client.post(url, json=body, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200


def test_attention_checks_show_no_repeated_image_id(study):
    with study.reading() as conn:
        items = [dict(r) for r in conn.execute("SELECT * FROM items")]
    checks = [i for i in items if i["check_kind"]]
    assert checks
    for check in checks:
        assert check["image_id"] != check["reference_id"]
        used_elsewhere = [i for i in items if i["id"] != check["id"]
                          and check["image_id"] in (i["image_id"], i["reference_id"])]
        assert not used_elsewhere, check
