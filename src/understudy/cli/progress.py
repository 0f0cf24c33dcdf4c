"""What a run shows a person: a progress bar, one line per failed input, a one-screen summary."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from understudy.errors import printable
from understudy.io.audit import AUDIT_NAME, Summary


class RunReporter:
    """Context manager fed one audit row at a time by the runner."""

    def __init__(self, options, quiet: bool = False):
        self.options = options
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False)
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> "RunReporter":
        if not self.quiet:
            from understudy.io.files import discover

            # A cheap first walk (names only) gives the bar its total.
            total = sum(1 for _ in discover(self.options.sources, self.options.destination))
            total *= len(self.options.anonymize.variants)
            self.progress = Progress(TextColumn("[bold]anonymizing"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("{task.fields[name]}"), console=self.console,
                                     transient=True, disable=not self.console.is_terminal)
            self.progress.start()
            self.task = self.progress.add_task("run", total=total, name="")
        return self

    def row(self, row: dict[str, Any]) -> None:
        if row["status"] == "failed":
            # One line per bad input, even in quiet mode: the file and the reason.
            # Escaped: a newline or escape sequence in a file name must not forge a line.
            print(f"understudy: {printable(row['source'])}: "
                  f"{printable(row.get('error', 'failed'))}", file=sys.stderr)
        if self.progress is not None:
            self.progress.update(self.task, advance=1,
                                 name=printable(row.get("output", ""))[-40:])

    def finish(self, summary: Summary) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.quiet:
            return
        table = Table(title="understudy anonymize", show_header=False, box=None)
        table.add_row("outputs", f"{summary.ok} written, {summary.failed} failed, "
                                 f"{summary.resumed} already done (resume)")
        for reason, count in sorted(summary.skipped.items()):
            table.add_row("skipped", f"{count} file(s): {printable(reason)}")
        if summary.frames != summary.ok:
            table.add_row("frames", str(summary.frames))
        for kind in ("person", "face"):
            outcomes = {o: n for (k, o), n in summary.outcomes.items() if k == kind}
            if outcomes:
                detail = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
                table.add_row(f"{kind}s", detail)
        if not summary.outcomes:
            table.add_row("regions", "none found")
        masked = sum(n for (_, o), n in summary.outcomes.items() if o == "masked")
        if masked:
            table.add_row("fail-closed", f"{masked} region(s) masked out; reasons in the audit")
        for note in summary.notes:
            table.add_row("note", printable(note))
        table.add_row("time", f"{summary.seconds:.1f} s")
        table.add_row("audit", printable(f"{self.options.destination}/{AUDIT_NAME}"))
        self.console.print(table)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
