"""``understudy evaluate --original DIR --anonymized NAME=DIR [...] -o REPORT_DIR``

Measures privacy (face re-identification with two recognizers; body re-identification by
an appearance embedder and a clothing-colour attacker; person recall, coverage and person
pixels left visible, from the audit and optional hand labels), posture,
attributes, quality and time of one or more anonymized versions of a folder, and writes
REPORT_DIR/report.json and REPORT_DIR/report.html.
"""

from __future__ import annotations

import argparse

from understudy.evaluation.options import MEASURES, RECOGNIZERS


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--original", required=True, metavar="DIR", help="folder of original images")
    parser.add_argument("--anonymized", required=True, action="extend", nargs="+",
                        metavar="NAME=DIR",
                        help="anonymized versions of --original (same relative paths), one or "
                             "more, e.g. blur=out/blur maskout=out/maskout; may be repeated")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR",
                        help="where report.json, report.html and the cache go")
    parser.add_argument("--recognizers", default=",".join(RECOGNIZERS),
                        help=f"face recognizers, comma-separated (default: {','.join(RECOGNIZERS)})")
    parser.add_argument("--measures", default=",".join(MEASURES),
                        help=f"what to measure, comma-separated (default: {','.join(MEASURES)})")
    parser.add_argument("--identity-pattern", metavar="REGEX",
                        help="regex whose first group is the identity in a relative path, e.g. "
                             "'^(\\d+)_' for Market-1501; adds the gallery protocol")
    parser.add_argument("--labels", metavar="LABELS_JSON",
                        help="hand-labelled people (boxes, identities, tags; the labels.json of "
                             "`python tests/people_set.py OUT`): person recall, coverage and body "
                             "re-ID count these people instead of detected ones")
    parser.add_argument("--body-reid-model", metavar="ONNX",
                        help="a person re-ID model (N, 3, 256, 128) for body R@k/mAP")
    parser.add_argument("--inception", metavar="TORCHSCRIPT",
                        help="Inception feature extractor (TorchScript) to report FID and KID")
    parser.add_argument("--dlib-threshold", type=float, default=0.6, help="dlib L2 threshold (0.6)")
    parser.add_argument("--sface-threshold", type=float, default=0.363, help="SFace cosine threshold (0.363)")
    parser.add_argument("--max-side", type=int, default=1600,
                        help="analyse images at most this large, pixels (default 1600)")
    parser.add_argument("--examples", type=int, default=12, help="rows in the examples grid (12)")
    parser.add_argument("--cache-dir", metavar="DIR", help="analysis cache (default REPORT_DIR/cache)")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything, keep nothing")
    parser.add_argument("--no-reference", action="store_true",
                        help="leave out the 'original' reference row")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from understudy.evaluation.api import evaluate
    from understudy.evaluation.options import EvaluationOptions

    options = EvaluationOptions(
        recognizers=args.recognizers, measures=args.measures,
        dlib_threshold=args.dlib_threshold, sface_threshold=args.sface_threshold,
        identity_pattern=args.identity_pattern, labels=args.labels,
        body_reid_model=args.body_reid_model,
        inception=args.inception, max_side=args.max_side, examples=args.examples,
        cache_dir=args.cache_dir, use_cache=not args.no_cache,
        reference_row=not args.no_reference, progress=not args.no_progress)
    report = evaluate(original=args.original, anonymized=args.anonymized, output=args.output,
                      options=options)
    print(summary(report))
    print(f"wrote {args.output}/report.json and {args.output}/report.html")
    return 1 if report.get("failures") else 0


def summary(report: dict) -> str:
    """One line per set: the figures a user looks at first."""
    lines = []
    for name, m in report["methods"].items():
        parts = []
        for rec, f in m.get("faces", {}).items():
            fr = f.get("full_reference", {})
            if f.get("faces"):
                parts.append(f"{rec} R@1 {fr.get('R@1', 0):.1f} leak {f['leak_rate']:.1f}%")
        p = m.get("people", {})
        if p.get("recall") is not None:
            parts.append(f"people found {p['found']}/{p['people']} covered {p['covered']:.0f}% "
                         f"replaced {p['replaced']} masked {p['masked']}"
                         + (f" folded {p['folded']}" if p.get("folded") else ""))
        if p.get("visible_mean") is not None:
            parts.append(f"person pixels left {p['visible_mean']:.1f}%")
        for kind, b in m.get("body", {}).items():
            if b.get("R@1") is not None:
                floor = f" (floor {b['floor_R@1']:.1f})" if b.get("floor_R@1") is not None else ""
                parts.append(f"body {kind} R@1 {b['R@1']:.1f}{floor}")
        if m.get("posture", {}).get("oks") is not None:
            parts.append(f"OKS {m['posture']['oks']:.1f}")
        v = m.get("video")
        if v:
            replaced = "" if v["replaced_share"] is None else f"{v['replaced_share']:.0f}% replaced "
            parts.append(f"video: {replaced}{v['alternations']} alternations, moving people "
                         f"left visible {v['left_visible']}/{v['moving_blobs']}, drawn where "
                         f"nothing moves {v['drawn_still']:.3f}%")
        if m.get("quality", {}).get("changed_outside") is not None:
            parts.append(f"changed outside {m['quality']['changed_outside']:.2f}%")
        lines.append(f"{name:>14}: " + (" · ".join(parts) or "no faces or people found"))
    return "\n".join(lines)
