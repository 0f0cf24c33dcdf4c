"""Write ``report.json`` (every figure) and ``report.html`` (tables like the RefSD poster's,
plots, and a grid of examples with the worst cases first). The HTML is one self-contained
file: plots are inline SVG and thumbnails inline JPEG, so it can be mailed or archived."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# The RefSD poster's re-identification table (OSNet on Market-1501, anonymized queries
# against the original gallery), for context next to our own figures.
POSTER_R1 = [("Original", "93.3"), ("WeakBlur", "39.2"), ("StrongBlur", "31.5"),
             ("Mask-SD", "28.4"), ("DP2", "40.1–40.3"), ("MaskOut", "27.4"), ("RefSD", "27.5")]
THUMB_WIDTH = 300


def write_report(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write both files; return the report as written to report.json (rounded, plain types)."""
    data = _jsonable(report)
    (out / "report.json").write_text(json.dumps(data, indent=1))
    (out / "report.html").write_text(render_html(data), encoding="utf-8")
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return round(f, 4) if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}" if math.isfinite(value) else "–"
    return html.escape(str(value))


# -- tables -----------------------------------------------------------------------------------
def privacy_tables(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One poster-style table per recognizer (and protocol): method × R@1/5/10, mAP, leak."""
    labelled = report["protocol"]["faces"] != "full-reference"
    settings = ["gallery", "full_reference"] if labelled else ["full_reference"]
    tables = []
    for rec, threshold in report["protocol"]["thresholds"].items():
        for setting in settings:
            rows = []
            for name, m in report["methods"].items():
                f = m.get("faces", {}).get(rec, {})
                if not f:
                    continue
                r = f.get(setting, {})
                nf = f"{f.get('not_found')}/{f.get('faces')}" if f.get("faces") else "–"
                rows.append([name, fmt(r.get("R@1")), fmt(r.get("R@5")), fmt(r.get("R@10")),
                             fmt(r.get("mAP")), fmt(f.get("leak_rate")), nf,
                             fmt(f.get("pair_score_mean"), 3)])
            score = "mean L2 to original" if rec == "dlib" else "mean cosine to original"
            tables.append({"title": f"{rec} ({'gallery' if setting == 'gallery' else 'full reference'}, "
                                    f"threshold {threshold})", "key": f"privacy-{rec}-{setting}",
                           "header": ["method", "R@1", "R@5", "R@10", "mAP", "leak %", "not found", score],
                           "rows": rows})
    return tables


def simple_table(report: dict[str, Any], columns: list[tuple[str, str, int]], section: str,
                 sub: str | None = None) -> dict[str, Any]:
    rows = []
    for name, m in report["methods"].items():
        data = m.get(section, {})
        if sub is not None:
            data = data.get(sub, {})
        if not data:
            continue
        rows.append([name] + [fmt(data.get(key), digits) for _, key, digits in columns])
    if section == "body" and sub is not None:
        # The identity-free references (evaluation/references.py): the attacker's floor.
        for name, by_kind in report.get("body_references", {}).get("attackers", {}).items():
            if by_kind.get(sub):
                rows.append([f"reference: {name}"] + [fmt(by_kind[sub].get(key), digits)
                                                      for _, key, digits in columns])
    return {"header": ["method"] + [c[0] for c in columns], "rows": rows}


def rating_table(rating: Any) -> dict[str, Any] | None:
    """``rating.json`` (from ``understudy rate export``) as one row per method: mean score
    and 95 % interval for realism, identity and attributes."""
    if not isinstance(rating, dict) or not isinstance(rating.get("methods"), dict):
        return None
    questions = ("realism", "identity", "attributes_all")
    header = ["method"] + ["realism (1-5)", "same person? (1-5, lower is safer)", "attributes"]
    rows = []
    for method, scores in rating["methods"].items():
        cells = [method]
        for q in questions:
            stat = scores.get(q) if isinstance(scores, dict) else None
            if isinstance(stat, dict) and stat.get("mean") is not None:
                cells.append(f"{stat['mean']:.2f} [{stat.get('ci_low', float('nan')):.2f}, "
                             f"{stat.get('ci_high', float('nan')):.2f}] n={stat.get('n', '?')}")
            else:
                cells.append("–")
        rows.append(cells)
    plots = [p for p in rating.get("plots", []) if isinstance(p, str) and "/" not in p]
    return {"header": header, "rows": rows, "plots": plots, "study": rating.get("study", "")}


def utility_table(utility: Any) -> dict[str, Any] | None:
    """``utility.json`` as a table when it is (or holds) a list of flat rows."""
    rows = utility
    if isinstance(utility, dict):
        rows = utility.get("table") or utility.get("rows") or utility.get("results")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        header = list(dict.fromkeys(k for r in rows for k in r))
        return {"header": header, "rows": [[fmt(r.get(k), 3) for k in header] for r in rows]}
    return None


# -- plots ------------------------------------------------------------------------------------
def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    methods = report["methods"]
    recs = list(report["protocol"]["thresholds"])
    # Privacy against posture: the trade-off a user picks a method on.
    xs, ys, names = [], [], []
    for name, m in methods.items():
        leaks = [m["faces"][r]["leak_rate"] for r in recs if m.get("faces", {}).get(r, {}).get("faces")]
        oks = m.get("posture", {}).get("oks")
        if leaks and oks is not None:
            xs.append(float(np.mean(leaks)))
            ys.append(oks)
            names.append(name)
    if xs:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.scatter(xs, ys, s=40, color="#3465a4")
        for x, y, n in zip(xs, ys, names):
            ax.annotate(n, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
        ax.set_xlabel("identity-leak rate, mean of recognizers (%)  ← better")
        ax.set_ylabel("pose agreement OKS (%)  better →")
        ax.set_xlim(-5, 105)
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.set_title("privacy vs posture")
        out.append(("Privacy against posture", _svg(fig)))
    for rec in recs:
        series = [(name, m["faces"][rec]["pair_scores"]) for name, m in methods.items()
                  if m.get("faces", {}).get(rec, {}).get("pair_scores")]
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.2))
        pos = np.arange(len(series))
        ax.boxplot([s for _, s in series], positions=pos, widths=0.5, orientation="horizontal")
        for i, (_, s) in enumerate(series):
            ax.scatter(s, np.full(len(s), i) + np.random.default_rng(i).uniform(-0.15, 0.15, len(s)),
                       s=10, alpha=0.6, color="#cc0000")
        ax.set_yticks(pos, [n for n, _ in series])
        thr = report["protocol"]["thresholds"][rec]
        ax.axvline(thr, color="black", linestyle="--", linewidth=1)
        metric = "L2 distance (same person left of the line)" if rec == "dlib" \
            else "cosine similarity (same person right of the line)"
        ax.set_xlabel(metric)
        ax.set_title(f"{rec}: anonymized face vs its original")
        out.append((f"{rec} pair scores", _svg(fig)))
    return out


# -- examples ---------------------------------------------------------------------------------
def _thumb(path: Path, boxes: list[tuple[list[float], bool]], max_side: int) -> str | None:
    import cv2
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            full_w, full_h = img.size
            scale = THUMB_WIDTH / full_w
            img = img.resize((THUMB_WIDTH, max(1, round(full_h * scale))))
            arr = np.asarray(img).copy()
    except Exception:
        return None
    analysis = min(1.0, max_side / max(full_w, full_h))
    for box, leaked in boxes:
        b = [int(round(v / analysis * scale)) for v in box]
        color = (220, 0, 0) if leaked else (0, 170, 0)
        cv2.rectangle(arr, (b[0], b[1]), (b[2], b[3]), color, 2)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def examples(report: dict[str, Any]) -> list[dict[str, Any]]:
    original = Path(report["original"])
    max_side = report["protocol"]["max_side"]
    rows = []
    for ex in report.get("examples", []):
        rel = ex["path"]
        cells = [{"name": "source", "src": _thumb(original / rel, [], max_side), "caption": rel}]
        for name, m in report["methods"].items():
            rec = m["per_image"].get(rel)
            if rec is None:
                cells.append({"name": name, "src": None, "caption": "missing"})
                continue
            boxes, parts = [], []
            for rname, face in rec["faces"].items():
                boxes += [(b, leaked) for b, leaked in zip(face["boxes"], face["leaks"])]
                if face["boxes"]:
                    parts.append(f"{rname} {sum(face['leaks'])}/{len(face['boxes'])} leak")
            if rec.get("oks") is not None:
                parts.append(f"OKS {rec['oks']:.0f}")
            if rec.get("seconds") is not None:
                parts.append(f"{rec['seconds']:.2f} s")
            cells.append({"name": name, "src": _thumb(Path(m["root"]) / rel, boxes, max_side),
                          "caption": " · ".join(parts)})
        rows.append({"path": rel, "leaks": ex["leaks"], "cells": cells})
    return rows


def render_html(report: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("understudy.evaluation", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    body_columns = [("people", "people", 0), ("R@1", "R@1", 1), ("R@5", "R@5", 1),
                    ("R@10", "R@10", 1), ("mAP", "mAP", 1), ("gallery R@1", "gallery_R@1", 1),
                    ("gallery mAP", "gallery_mAP", 1), ("mean cosine", "pair_cosine_mean", 3),
                    ("R@1 above floor", "above_floor_R@1", 1),
                    ("gallery R@1 above floor", "above_floor_gallery_R@1", 1)]
    sections = [
        ("People: found, covered, left visible", "people", None, [
            ("people", "people", 0), ("found", "found", 0), ("recall %", "recall", 1),
            ("covered %", "covered", 1), ("replaced", "replaced", 0), ("masked", "masked", 0),
            ("folded", "folded", 0), ("missed", "missed", 0),
            ("replaced of found %", "replaced_of_found", 1),
            ("pixels left %", "visible_mean", 1), ("left visible", "left_visible", 0),
            ("fit IoU (median)", "fit_iou_median", 2),
            ("keypoint error % height (median)", "fit_error_share_median", 1)]),
        ("Body", "body", "appearance", body_columns),
        ("Body: clothing colour", "body", "colour", body_columns),
        ("Body re-identification", "body", "reid", [("people", "people", 0), ("R@1", "R@1", 1),
                                                    ("R@5", "R@5", 1), ("mAP", "mAP", 1),
                                                    ("mean cosine", "pair_cosine_mean", 3)]),
        ("Posture", "posture", None, [("people", "people", 0), ("PCK@0.05", "pck@0.05", 1),
                                      ("PCK@0.1", "pck@0.1", 1), ("PCK@0.2", "pck@0.2", 1),
                                      ("OKS", "oks", 1), ("OKS body", "oks_body", 1),
                                      ("detection recall", "detection_recall", 1)]),
        ("Attributes", "attributes", None, [
            ("faces", "faces", 0), ("measured %", "coverage", 1), ("gender kept %", "gender_kept", 1),
            ("age kept %", "age_kept", 1), ("age MAE (y)", "age_mae", 1),
            ("emotion kept %", "emotion_kept", 1), ("prompts", "prompts", 0),
            ("gender vs prompt %", "gender_prompt_accuracy", 1),
            ("age vs prompt %", "age_prompt_accuracy", 1),
            ("emotion vs prompt %", "emotion_prompt_accuracy", 1)]),
        ("Quality", "quality", None, [
            ("BRISQUE", "brisque", 1), ("BRISQUE original", "brisque_original", 1), ("SSIM", "ssim", 3),
            ("changed outside people %", "changed_outside", 2),
            ("background regenerated % (scene mode, intended)", "changed_scene", 2),
            ("PSNR outside (dB)", "psnr_outside", 1),
            ("changed inside people %", "changed_inside", 1), ("FID", "fid", 2), ("KID", "kid", 4)]),
        ("Video: steady stand-ins, moving people covered", "video", None, [
            ("videos", "videos", 0), ("frames", "frames", 0),
            ("person-frames", "person_frames", 0), ("replaced %", "replaced_share", 1),
            ("masked", "masked", 0), ("alternations", "alternations", 0),
            ("moving blobs", "moving_blobs", 0), ("left visible", "left_visible", 0),
            ("left visible %", "left_visible_share", 1),
            ("drawn where nothing moves %", "drawn_still", 3),
            ("static camera", "static_camera", 0)]),
        ("Time", "time", None, [("images", "images", 0), ("mean s/image", "seconds_mean", 3),
                                ("median", "seconds_median", 3), ("p95", "seconds_p95", 3),
                                ("failed", "failed", 0)]),
    ]
    tables = []
    for title, section, sub, columns in sections:
        table = simple_table(report, columns, section, sub)
        if table["rows"]:
            tables.append({"title": title, "key": section if sub is None else f"{section}-{sub}", **table})
    template = env.get_template("report.html.j2")
    return template.render(report=report, privacy=privacy_tables(report), tables=tables,
                           plots=plots(report), examples=examples(report), poster=POSTER_R1,
                           utility=utility_table(report.get("utility")),
                           rating=rating_table(report.get("rating")),
                           utility_raw=json.dumps(report.get("utility"), indent=1)
                           if report.get("utility") is not None else None,
                           models=json.dumps(report.get("models", {}), indent=1))
