"""Export a study: answers CSV, per-method means with CIs, agreement, plots, rating.json.

``rating.json`` is the machine-readable summary that ``understudy evaluate`` adds to its
report; its layout is documented in docs/rating.md. Annotators who fail too many
attention checks are listed and left out of the statistics (never out of the CSV).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from understudy.errors import UsageError
from understudy.rating.stats import bootstrap_mean, krippendorff_alpha
from understudy.rating.store import StudyStore

CSV_COLUMNS = ("annotator", "excluded", "item", "item_kind", "attention_check", "method",
               "image", "question", "attribute", "target", "prompt_complexity", "value",
               "score", "check_passed", "created_at", "updated_at", "revisions")


@dataclass
class ExportOptions:
    min_attention: float = 0.75  # share of attention checks an annotator must pass
    resamples: int = 2000
    level: float = 0.95
    seed: int = 0
    plots: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_attention <= 1.0:
            raise UsageError(f"min_attention must be within 0-1, got {self.min_attention}")
        if self.resamples < 100:
            raise UsageError(f"resamples must be >= 100, got {self.resamples}")
        if not 0.5 < self.level < 1.0:
            raise UsageError(f"level must be within (0.5, 1), got {self.level}")


def _score(row: dict[str, Any]) -> float:
    """Likert answers score as their number; a choice scores 1 when it is the prompted value."""
    if row["scale"] == "likert":
        return float(row["value"])
    return 1.0 if row["value"] == row["target"] else 0.0


def export_study(store: StudyStore, out_dir: str | Path,
                 options: ExportOptions | None = None) -> dict[str, Any]:
    """Write the export files into ``out_dir`` and return the rating.json content."""
    options = options or ExportOptions()
    store.check()
    meta = store.meta()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = store.answer_rows()
    annotators = [a.label for a in store.annotators()]

    checks: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        row["attributes"] = json.loads(row["attributes"] or "{}")
        row["prompt_complexity"] = len(row["attributes"]) if row["method"] != "original" else 0
        row["score"] = _score(row)
        row["check_passed"] = ""
        if row["check_kind"]:
            passed = row["value"] in json.loads(row["expected"] or "[]")
            row["check_passed"] = int(passed)
            checks[row["annotator"]].append(passed)
    attention = {a: (float(np.mean(checks[a])) if checks[a] else None) for a in annotators}
    excluded = sorted(a for a, rate in attention.items()
                      if rate is not None and rate < options.min_attention)
    for row in rows:
        row["excluded"] = int(row["annotator"] in excluded)

    _write_csv(out / "answers.csv", rows)
    kept = [r for r in rows if not r["excluded"] and not r["check_kind"]]
    rng = np.random.default_rng(options.seed)

    def estimate(selected: list[dict[str, Any]]) -> dict[str, Any]:
        labels = sorted({r["annotator"] for r in selected})
        units = sorted({r["question_id"] for r in selected})
        a_index = {a: i for i, a in enumerate(labels)}
        u_index = {u: i for i, u in enumerate(units)}
        matrix = np.full((len(labels), len(units)), np.nan)
        for r in selected:
            matrix[a_index[r["annotator"]], u_index[r["question_id"]]] = r["score"]
        return bootstrap_mean(matrix, rng, options.resamples, options.level).as_dict()

    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in kept:
        m = r["method"]
        if r["question"] in ("realism", "identity"):
            groups[m][r["question"]].append(r)
        else:
            groups[m][f"attribute:{r['attribute']}"].append(r)
            groups[m]["attribute:all"].append(r)
            groups[m][f"complexity:{r['prompt_complexity']}"].append(r)
            groups[m][f"attribute:{r['attribute']}:complexity:{r['prompt_complexity']}"].append(r)
    methods: dict[str, Any] = {}
    for m in ["original"] + [x for x in meta.get("methods", []) if x != "original"]:
        if m not in groups:
            continue
        g = groups[m]
        entry: dict[str, Any] = {}
        for key in ("realism", "identity"):
            if key in g:
                entry[key] = estimate(g[key])
        attrs = sorted(k.split(":")[1] for k in g if k.startswith("attribute:")
                       and k.count(":") == 1 and k != "attribute:all")
        if attrs:
            entry["attributes"] = {a: estimate(g[f"attribute:{a}"]) for a in attrs}
            entry["attributes_all"] = estimate(g["attribute:all"])
            levels = sorted(int(k.split(":")[1]) for k in g if k.startswith("complexity:"))
            entry["by_complexity"] = {str(c): estimate(g[f"complexity:{c}"]) for c in levels}
            entry["attribute_by_complexity"] = {
                a: {str(c): estimate(g[key]) for c in levels
                    if (key := f"attribute:{a}:complexity:{c}") in g} for a in attrs}
        methods[m] = entry

    agreement = _agreement(kept)
    scale = meta["options"].get("attribute_question", "match")
    result: dict[str, Any] = {
        "study": meta.get("name"),
        "scales": {"realism": "1-5 (5 = clearly real)",
                   "identity": "1-5 (5 = certainly the same person; lower is more private)",
                   "attributes": ("1-5 (5 = matches the prompt completely)" if scale == "match"
                                  else "share of answers naming the prompted value")},
        "confidence_level": options.level,
        "methods": methods,
        "agreement": agreement,
        "annotators": {a: {"answers": sum(1 for r in rows if r["annotator"] == a),
                           "attention_pass_rate": attention[a],
                           "excluded": a in excluded} for a in annotators},
        "min_attention": options.min_attention,
        "answers_csv": "answers.csv",
        "plots": [],
    }
    if options.plots and kept:
        result["plots"] = _plots(out, methods, scale)
    _write_summary(out / "summary.csv", methods)
    (out / "rating.md").write_text(_markdown(result), encoding="utf-8")
    (out / "rating.json").write_text(json.dumps(_finite(result), indent=2, allow_nan=False),
                                     encoding="utf-8")
    return result


def _finite(value: Any) -> Any:
    """NaN is not JSON: write null instead."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in an
# annotator's name or a method's folder name): such text cells get a leading apostrophe
# (OWASP's CSV-injection advice). Numbers are written as numbers and left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _SafeWriter:
    """``csv.writer`` whose text cells are neutralised with ``safe_cell``."""

    def __init__(self, fh: Any):
        self._writer = csv.writer(fh)

    def writerow(self, row: list[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = _SafeWriter(fh)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow([r["annotator"], r["excluded"], r["item"], r["item_kind"],
                             r["check_kind"] or "", r["method"], r["image"], r["question"],
                             r["attribute"] or "", r["target"] or "", r["prompt_complexity"],
                             r["value"], r["score"], r["check_passed"], f"{r['created_at']:.3f}",
                             f"{r['updated_at']:.3f}", r["revisions"]])


def _agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Krippendorff's alpha per question kind: ordinal for 1-5 scales, nominal for choices."""
    out: dict[str, Any] = {}
    by_kind: dict[str, list] = defaultdict(list)
    for r in rows:
        by_kind[r["question"]].append(r)
    for kind, selected in sorted(by_kind.items()):
        scale = selected[0]["scale"]
        labels = sorted({r["annotator"] for r in selected})
        units = sorted({r["question_id"] for r in selected})
        values = sorted({r["value"] for r in selected})
        code = {v: float(i) for i, v in enumerate(values)}
        matrix = np.full((len(labels), len(units)), np.nan)
        a_index = {a: i for i, a in enumerate(labels)}
        u_index = {u: i for i, u in enumerate(units)}
        for r in selected:
            value = float(r["value"]) if scale == "likert" else code[r["value"]]
            matrix[a_index[r["annotator"]], u_index[r["question_id"]]] = value
        metric = "ordinal" if scale == "likert" else "nominal"
        alpha = krippendorff_alpha(matrix, metric)
        pairable = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2))
        out[kind] = {"krippendorff_alpha": None if np.isnan(alpha) else round(alpha, 4),
                     "metric": metric, "annotators": len(labels), "units": len(units),
                     "pairable_units": pairable}
    return out


def _write_summary(path: Path, methods: dict[str, Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = _SafeWriter(fh)
        writer.writerow(["method", "measure", "mean", "ci_low", "ci_high", "n", "annotators",
                         "items"])
        for m, entry in methods.items():
            measures = [(k, entry[k]) for k in ("realism", "identity") if k in entry]
            measures += [(f"attribute:{a}", e) for a, e in entry.get("attributes", {}).items()]
            measures += [(f"complexity:{c}", e) for c, e in entry.get("by_complexity", {}).items()]
            for name, e in measures:
                writer.writerow([m, name, _fmt(e["mean"]), _fmt(e["ci_low"]), _fmt(e["ci_high"]),
                                 e["n"], e["annotators"], e["items"]])


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:.3f}"


def _markdown(result: dict[str, Any]) -> str:
    lines = [f"# Rating study {result['study']}", "",
             f"Means with {int(result['confidence_level'] * 100)} % bootstrap intervals "
             "(annotators and items resampled).", "",
             "| method | realism | identity (lower = more private) | attributes |",
             "|---|---|---|---|"]
    for m, e in result["methods"].items():
        cells = []
        for key in ("realism", "identity", "attributes_all"):
            x = e.get(key)
            cells.append("–" if not x else
                         f"{x['mean']:.2f} [{x['ci_low']:.2f}, {x['ci_high']:.2f}] (n={x['n']})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "| question | Krippendorff's alpha | metric | annotators | units |",
              "|---|---|---|---|---|"]
    for kind, a in result["agreement"].items():
        lines.append(f"| {kind} | {a['krippendorff_alpha']} | {a['metric']} | "
                     f"{a['annotators']} | {a['units']} |")
    excluded = [a for a, x in result["annotators"].items() if x["excluded"]]
    lines += ["", f"Annotators left out for failing attention checks: {', '.join(excluded) or 'none'}."]
    lines += [""] + [f"![{p}]({p})" for p in result["plots"]]
    return "\n".join(lines) + "\n"


def _plots(out: Path, methods: dict[str, Any], scale: str) -> list[str]:
    """The paper's kind of figures: mean annotator score per attribute (per method), per
    prompt complexity, and realism / identity per method; error bars are the CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    ylabel = "mean annotator score (1-5)" if scale == "match" else "share matching the prompt"
    ylim = (1, 5) if scale == "match" else (0, 1)

    def bars(ax: Any, names: list[str], entries: list[dict], color: str | None = None) -> None:
        means = [e["mean"] for e in entries]
        err = [[max(0.0, e["mean"] - e["ci_low"]) for e in entries],
               [max(0.0, e["ci_high"] - e["mean"]) for e in entries]]
        ax.bar(names, means, yerr=err, capsize=4, color=color)

    panels = [(k, t) for k, t in (("realism", "Realism (5 = clearly real)"),
                                  ("identity", "Same person as original? (lower = more private)"))
              if any(k in e for e in methods.values())]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
        for ax, (key, title) in zip(axes[0], panels):
            names = [m for m in methods if key in methods[m]]
            bars(ax, names, [methods[m][key] for m in names])
            ax.set_title(title, fontsize=10)
            ax.set_ylim(1, 5)
            ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        fig.savefig(out / "realism_identity.png", dpi=120)
        plt.close(fig)
        written.append("realism_identity.png")

    with_attrs = [m for m, e in methods.items() if "attributes" in e]
    if with_attrs:
        attrs = sorted({a for m in with_attrs for a in methods[m]["attributes"]})
        fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(attrs) * len(with_attrs) / 2 + 3), 3.6))
        width = 0.8 / len(with_attrs)
        x = np.arange(len(attrs))
        for i, m in enumerate(with_attrs):
            entries = [methods[m]["attributes"].get(a) for a in attrs]
            means = [e["mean"] if e else np.nan for e in entries]
            err = [[e["mean"] - e["ci_low"] if e else 0 for e in entries],
                   [e["ci_high"] - e["mean"] if e else 0 for e in entries]]
            ax.bar(x + (i - (len(with_attrs) - 1) / 2) * width, means, width, yerr=err,
                   capsize=3, label=m)
        ax.set_xticks(x, attrs)
        ax.set_ylim(*ylim)
        ax.set_ylabel(ylabel)
        ax.set_title("Does the person show the prompted attribute?", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "attributes_by_method.png", dpi=120)
        plt.close(fig)
        written.append("attributes_by_method.png")

        fig, axes = plt.subplots(1, len(with_attrs), figsize=(4.5 * len(with_attrs), 3.6),
                                 squeeze=False, sharey=True)
        for ax, m in zip(axes[0], with_attrs):
            for a, per_level in methods[m]["attribute_by_complexity"].items():
                levels = sorted(per_level, key=int)
                ax.errorbar([int(c) for c in levels], [per_level[c]["mean"] for c in levels],
                            yerr=[[per_level[c]["mean"] - per_level[c]["ci_low"] for c in levels],
                                  [per_level[c]["ci_high"] - per_level[c]["mean"] for c in levels]],
                            marker="o", capsize=3, label=a)
            ax.set_title(m, fontsize=10)
            ax.set_xlabel("prompt complexity (attributes in the prompt)")
            ax.set_ylim(*ylim)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.legend(fontsize=8)
        axes[0][0].set_ylabel(ylabel)
        fig.tight_layout()
        fig.savefig(out / "attributes_by_complexity.png", dpi=120)
        plt.close(fig)
        written.append("attributes_by_complexity.png")
    return written
