"""The utility table: mean ± spread over seeds per configuration, as JSON, Markdown, HTML.

``utility.json`` keeps every seed's numbers; its ``table`` (flat rows of strings) is what
``understudy evaluate`` shows when the file sits in its output folder.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from understudy.utility.metrics import F1_PREFIX, MAP
from understudy.utility.protocol import CONTROL, DESCRIPTIONS, Data, UtilityOptions


def summarize(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Per configuration: mean, sample standard deviation, min, max of every metric."""
    out: dict[str, Any] = {}
    for config, per_seed in results.items():
        metrics = sorted({m for r in per_seed.values() for m in r})
        entry: dict[str, Any] = {"seeds": per_seed, "mean": {}, "std": {}, "min": {}, "max": {}}
        for m in metrics:
            values = np.array([r[m] for r in per_seed.values()
                               if r.get(m) is not None and r[m] == r[m]], float)
            if len(values) == 0:
                continue
            entry["mean"][m] = float(values.mean())
            entry["std"][m] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            entry["min"][m] = float(values.min())
            entry["max"][m] = float(values.max())
        out[config] = entry
    return out


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def chance(data: Data) -> dict[str, Any]:
    """Chance levels on the test split, so a reader can tell learning from guessing."""
    from understudy.utility.metrics import chance_levels

    if data.test.labels is None:
        return {}
    labels = data.test.labels.numpy()
    return {a: chance_levels(labels[:, j], len(data.classes[a]))
            for j, a in enumerate(data.attributes)}


def build_report(data: Data, options: UtilityOptions, results: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(results)
    if options.task == "classify":  # (result key, column label): accuracy, then macro-F1
        names = data.attributes + ["mean"]
        columns = [(m, f"accuracy: {m}") for m in names] + [(F1_PREFIX + m, F1_PREFIX + m)
                                                              for m in names]
    else:
        columns = [(m, m) for m in (MAP, "AP50", "recall50")]
    table = []
    for config, entry in summary.items():
        row: dict[str, Any] = {"configuration": config, "trained on": DESCRIPTIONS[config]}
        for m, label in columns:
            if m in entry["mean"]:
                row[label] = f"{entry['mean'][m]:.3f} ± {entry['std'][m]:.3f}"
        row["seeds"] = len(entry["seeds"])
        table.append(row)
    sizes = {"real": len(data.real), "synthetic": len(data.synthetic), "test": len(data.test)}
    skipped = {k: s.unmatched for k, s in (("real", data.real), ("synthetic", data.synthetic),
                                           ("test", data.test)) if s.unmatched}
    report = {
        "task": options.task,
        "metric": ("accuracy and macro-F1 per attribute" if options.task == "classify"
                   else f"{MAP} (COCO's AP), AP50, recall50"),
        "spread": "sample standard deviation over seeds",
        "configurations": summary,
        "table": table,
        "chance": chance(data),
        "classes": data.classes,
        "data": {"images": sizes, "unlabelled_images_skipped": skipped,
                 "test_people": (sum(len(b) for b in data.test.boxes)
                                 if data.test.boxes is not None else None)},
        "options": {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in options.__dict__.items()},
        "control": CONTROL if CONTROL in summary else None,
    }
    return _finite(report)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "utility.json", out / "utility.md", out / "utility.html"]
    paths[0].write_text(json.dumps(report, indent=2, allow_nan=False), encoding="utf-8")
    header = list(dict.fromkeys(k for r in report["table"] for k in r))
    md = [f"# Utility ({report['task']}): trained on S / R / S+R / S→R, tested on real", "",
          "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(r.get(h, "–")) for h in header) + " |" for r in report["table"]]
    md += ["", f"Mean ± {report['spread']}. Test images: {report['data']['images']['test']}."]
    if report["chance"]:
        md.append("Chance on the test split: " + ", ".join(
            f"{a} {c['uniform']:.3f} uniform / {c['majority']:.3f} majority"
            for a, c in report["chance"].items() if c["majority"] is not None) + ".")
    paths[1].write_text("\n".join(md) + "\n", encoding="utf-8")
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(h, '–')))}</td>" for h in header)
                   + "</tr>\n" for r in report["table"])
    paths[2].write_text(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>utility</title>"
        "<style>body{font-family:system-ui,sans-serif}td,th{border:1px solid #ccc;"
        "padding:.3rem .6rem}table{border-collapse:collapse}</style>"
        f"<h1>Utility ({html.escape(report['task'])})</h1><table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header) + f"</tr>\n{rows}</table>"
        f"<p>{html.escape(md[-1] if report['chance'] else md[-1])}</p></html>\n",
        encoding="utf-8")
    return paths
