"""``understudy.evaluate``: measure what an anonymization did to a dataset.

    report = evaluate(original="data/", anonymized={"blur": "out/blur", "refsd": "out/refsd"},
                      output="report/")

compares every image of ``original`` with the file at the same relative path in each
anonymized folder, writes ``report/report.json`` and ``report/report.html`` and returns the
report as a dict (the content of report.json).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from understudy.errors import InputError, UsageError
from understudy.evaluation import aggregate
from understudy.evaluation.analysis import Analyser
from understudy.evaluation.cache import AnalysisCache
from understudy.evaluation.dataset import REFERENCE, Dataset, open_dataset
from understudy.evaluation.labels import read_labels
from understudy.evaluation.models import Models
from understudy.evaluation.options import EvaluationOptions



def evaluate(original: str | Path, anonymized: dict[str, str | Path] | Iterable[str],
             output: str | Path, options: EvaluationOptions | None = None,
             **option_values: Any) -> dict[str, Any]:
    """Evaluate anonymized sets against their originals; see the module docstring.

    ``anonymized`` maps a set name to its folder (or is a list of ``"NAME=DIR"`` strings or
    folders, named after the folder). Options are the fields of ``EvaluationOptions``.
    """
    if options is not None and option_values:
        raise UsageError("give either options= or option keywords, not both")
    opts = options or EvaluationOptions(**option_values)
    sets = parse_sets(anonymized)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {str(output)!r} exists and is not a folder")
    dataset = open_dataset(original, sets)
    if opts.reference_row:
        _add_reference(dataset)
    out.mkdir(parents=True, exist_ok=True)
    cache = AnalysisCache(None if not opts.use_cache else (opts.cache_dir or out / "cache"))
    models = Models(opts)
    try:
        report = _run(dataset, opts, models, cache, out)
    finally:
        models.close()
    from understudy.evaluation.report import write_report

    return write_report(report, out)


def parse_sets(anonymized: dict[str, str | Path] | Iterable[str]) -> dict[str, Path]:
    if isinstance(anonymized, (str, Path)):
        anonymized = [str(anonymized)]
    if isinstance(anonymized, dict):
        return {str(k): Path(v) for k, v in anonymized.items()}
    sets: dict[str, Path] = {}
    for item in anonymized:
        text = str(item)
        name, sep, folder = text.partition("=")
        if not sep:
            name, folder = Path(text).name, text
        if not name or not folder:
            raise UsageError(f"--anonymized {text!r}: use NAME=DIR, e.g. blur=out/blur")
        if name in sets:
            raise UsageError(f"--anonymized: the name {name!r} is given twice")
        sets[name] = Path(folder)
    return sets


def _add_reference(dataset: Dataset) -> None:
    """The originals themselves as the first row, unless the user already gave them."""
    from understudy.evaluation.dataset import AnonymizedSet

    root = dataset.original.resolve()
    if any(s.root.resolve() == root for s in dataset.sets):
        return
    name = REFERENCE if all(s.name != REFERENCE for s in dataset.sets) else f"{REFERENCE}-ref"
    dataset.sets.insert(0, AnonymizedSet(name, dataset.original, {}))


def _check_videos(dataset: Dataset, report: dict[str, Any], failures: list[str]) -> None:
    """Each set's videos against the originals (``evaluation/video.py``): steadiness from the
    audit, and moving people left visible by an independent motion check."""
    from understudy.evaluation.video import check_video, summarize

    videos = dataset.videos()
    report["videos"] = []
    for anon in dataset.sets:
        if not videos or anon.root.resolve() == dataset.original.resolve():
            continue
        checks = []
        for rel in videos:
            if not anon.path(rel).is_file():
                continue
            try:
                check = check_video(dataset.original / rel, anon.path(rel), anon.audit.get(rel), rel)
            except InputError as exc:
                failures.append(str(exc))
                continue
            checks.append(check)
            report["videos"].append({"method": anon.name, **check.to_json()})
        if checks:
            report["methods"].setdefault(anon.name, {})["video"] = summarize(checks)


def identity_of(relative: str, pattern: str | None) -> str | None:
    if pattern is None:
        return relative
    m = re.search(pattern, relative)
    return m.group(1) if m else None


def _run(dataset: Dataset, opts: EvaluationOptions, models: Models, cache: AnalysisCache,
         out: Path) -> dict[str, Any]:
    from understudy.evaluation.progress import progress_bar

    analyser = Analyser(opts, models, cache)
    labels = read_labels(opts.labels, dataset.relatives) if opts.labels else {}
    unlabelled = [r for r in dataset.relatives if opts.labels and r not in labels]
    if unlabelled:
        opts.extra_notes.append(f"{len(unlabelled)} images have no entry in the labels file "
                                f"(e.g. {unlabelled[0]}): they count no people")
    per_image: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    total = len(dataset.relatives) * (1 + len(dataset.sets))
    collector = aggregate.Collector(dataset, opts, cache)
    with progress_bar(total, opts.progress) as advance:
        for rel in dataset.relatives:
            identity = identity_of(rel, opts.identity_pattern)
            try:
                orig = analyser.analyse_original(dataset.original / rel,
                                                 labels.get(rel, []) if opts.labels else None)
            except InputError as exc:
                failures.append(str(exc))
                advance(1 + len(dataset.sets))
                continue
            advance(1)
            collector.add_original(rel, identity, orig)
            per_image[rel] = {}
            for anon in dataset.sets:
                path = anon.path(rel)
                if not path.is_file():
                    collector.missing(anon.name, rel)
                    advance(1)
                    continue
                try:
                    res = analyser.analyse_anonymized(path, orig)
                except InputError as exc:
                    failures.append(str(exc))
                    advance(1)
                    continue
                collector.add(anon, rel, identity, orig, res)
                advance(1)
    report = collector.finish()
    _check_videos(dataset, report, failures)
    report["failures"] = failures
    report["models"] = models.describe()
    report["notes"] = list(dict.fromkeys(models.notes + collector.notes + opts.extra_notes))
    report["cache"] = {"hits": cache.hits, "computed": cache.misses,
                       "dir": str(cache.root) if cache.root else None}
    # Results other commands wrote into the same folder join the report: `understudy utility`
    # (utility.json) and `understudy rate export -o REPORT_DIR` (rating.json + its plots).
    import json

    for key in ("utility", "rating"):
        extra = out / f"{key}.json"
        if extra.is_file():
            try:
                report[key] = json.loads(extra.read_text())
            except (OSError, ValueError) as exc:
                report["notes"].append(f"{key}.json could not be read: {exc}")
    return report


__all__ = ["evaluate", "EvaluationOptions", "parse_sets"]
