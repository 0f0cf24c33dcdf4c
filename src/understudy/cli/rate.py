"""``understudy rate create|serve|export|annotators``: a human rating study in a browser.

    understudy rate create --study pilot --original data/ --anonymized refsd=out/refsd \\
        --anonymized blur=out/blur --attributes prompts.csv --annotators 5
    understudy rate serve --study pilot            # prints one link per annotator
    understudy rate export --study pilot -o rating/
"""

from __future__ import annotations

import argparse
import sys

from understudy.errors import MissingDependency, UsageError


def add_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rate_command", metavar="ACTION", parser_class=type(parser))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--study", required=True, help="study name (letters, digits, _.-)")
    common.add_argument("--studies-dir", default="studies",
                        help="folder that holds the studies (default: ./studies)")

    c = sub.add_parser("create", parents=[common], help="build a study from image folders")
    c.add_argument("--original", required=True, help="folder of the original images")
    c.add_argument("--anonymized", action="append", default=[], metavar="NAME=DIR",
                   help="a method's output folder (repeat for each method); file names "
                        "match the originals' to pair them for the identity question")
    c.add_argument("--attributes", help="CSV/JSON of prompted attributes per anonymized image")
    c.add_argument("--annotators", type=int, default=3, help="annotator links to make (3)")
    c.add_argument("--items-per-annotator", type=int, default=0,
                   help="give each annotator only N items, balanced (0: all items)")
    c.add_argument("--attention-checks", type=int, default=-1,
                   help="attention-check items (default: about 5%% of the items, at least 2)")
    c.add_argument("--attribute-question", choices=("match", "choice"), default="match",
                   help="'match': rate the fit to the prompt 1-5; 'choice': pick the value")
    c.add_argument("--no-original-realism", action="store_true",
                   help="do not ask for the realism of the originals (the reference row)")
    c.add_argument("--no-identity", action="store_true", help="skip the identity question")
    c.add_argument("--locked", action="store_true", help="answers cannot be changed once given")
    c.add_argument("--max-side", type=int, default=768, help="image size shown (768 px)")
    c.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg")
    c.add_argument("--seed", type=int, default=0, help="seed of the item orders (0)")

    s = sub.add_parser("serve", parents=[common], help="serve the rating page")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--base-url", help="the address annotators use, for the printed links "
                                      "(e.g. behind a TLS proxy)")

    e = sub.add_parser("export", parents=[common], help="answers, statistics, plots")
    e.add_argument("-o", "--output", required=True, help="folder for the export")
    e.add_argument("--min-attention", type=float, default=0.75,
                   help="leave out annotators who pass fewer attention checks (0.75)")
    e.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (2000)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-plots", action="store_true")

    a = sub.add_parser("annotators", parents=[common], help="list annotators, add more")
    a.add_argument("--add", type=int, default=0, help="make N more annotator links")
    a.add_argument("--base-url", default="http://127.0.0.1:8000")


def run(args: argparse.Namespace) -> int:
    from understudy import rating

    command = getattr(args, "rate_command", None)
    if command is None:
        raise UsageError("give an action: create, serve, export or annotators "
                         "(understudy rate --help)")
    if command == "create":
        options = rating.StudyOptions(
            annotators=args.annotators, items_per_annotator=args.items_per_annotator,
            attention_checks=args.attention_checks, attribute_question=args.attribute_question,
            rate_originals=not args.no_original_realism, identity=not args.no_identity,
            allow_changes=not args.locked, max_side=args.max_side,
            image_format=args.image_format, seed=args.seed)
        from understudy.rating.study import parse_anonymized

        store = rating.create_study(args.study, args.original, parse_anonymized(args.anonymized),
                                    args.attributes, options, args.studies_dir)
        items = store.item_ids()
        checks = store.item_ids(checks=True)
        print(f"study {args.study!r}: {len(items) - len(checks)} items + {len(checks)} "
              f"attention checks, {len(store.annotators())} annotators, in {store.path.parent}")
        print(f"serve it with: understudy rate serve --study {args.study}"
              + (f" --studies-dir {args.studies_dir}" if args.studies_dir != "studies" else ""))
        return 0

    store = rating.open_study(args.study, args.studies_dir)
    if command == "annotators":
        if args.add < 0:
            raise UsageError(f"--add must be >= 0, got {args.add}")
        rating.add_annotators(store, args.add)
        _print_links(store, args.base_url.rstrip("/"))
        return 0
    if command == "export":
        options = rating.ExportOptions(min_attention=args.min_attention,
                                       resamples=args.resamples, seed=args.seed,
                                       plots=not args.no_plots)
        result = rating.export_study(store, args.output, options)
        n = sum(a["answers"] for a in result["annotators"].values())
        print(f"exported {n} answers of {len(result['annotators'])} annotators to {args.output} "
              "(answers.csv, summary.csv, rating.md, rating.json"
              + (", plots" if result["plots"] else "") + ")")
        return 0
    # serve
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency("the rating server", "pip install 'understudy[rating]'") from None
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be within 1-65535, got {args.port}")
    host_for_links = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    base = (args.base_url or f"http://{host_for_links}:{args.port}").rstrip("/")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: other machines can reach the page; the links "
              "travel in clear text unless a TLS proxy is in front", file=sys.stderr)
    app = rating.create_app(store)
    _print_links(store, base)
    print(f"organiser's progress page: {base}/admin/{store.meta()['admin_token']}")
    print("press Ctrl+C to stop; every answer is already saved")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _print_links(store: "object", base: str) -> None:
    for annotator in store.annotators():  # type: ignore[attr-defined]
        done, total = store.progress(annotator)  # type: ignore[attr-defined]
        print(f"{annotator.label}: {base}/s/{annotator.token}/   ({done}/{total} answered)")
