"""``understudy methods`` says what runs here: RefSD without SD weights is render mode, not
"ready", and the lines under it list what stage 3 needs (issue 15, item 7)."""

from __future__ import annotations

import json

from understudy.cli import main


def test_refsd_is_render_mode_and_lists_what_stage_3_needs(capsys):
    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    refsd = rows["refsd"]
    if refsd["usable"]:  # anny, pyrender and friends installed (scripts/install.sh)
        assert refsd["state"] == "render mode (no SD weights)"
    else:
        assert refsd["state"] == "unavailable" and refsd["why_not"]
    assert any("--model" in need and "stage 3" in need for need in refsd["weighted_stage_needs"])
    assert rows["blur"]["state"] == "ready" and rows["blur"]["weighted_stage_needs"] == []
    assert rows["camouflage"]["state"] in ("needs weights", "unavailable")
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith("refsd "))
    assert " ready " not in line
    if refsd["usable"]:
        assert "render mode (no SD weights)" in line
        assert "the full method needs: stage 3 (SD refinement): SD 1.x weights, --model" in text
