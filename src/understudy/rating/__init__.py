"""Human rating studies (HumanGenAI phi): build, serve in a browser, export.

``create_study`` → ``create_app`` (FastAPI, served by ``understudy rate serve``) →
``export_study`` (CSV, means with CIs, agreement, plots, ``rating.json``).
"""

from understudy.rating.export import ExportOptions, export_study
from understudy.rating.study import StudyOptions, add_annotators, create_study, open_study
from understudy.rating.store import StudyStore

__all__ = ["ExportOptions", "StudyOptions", "StudyStore", "add_annotators", "create_study",
           "export_study", "open_study", "create_app"]


def create_app(store: StudyStore):  # type: ignore[no-untyped-def]
    """The web app (imports FastAPI only when asked for)."""
    from understudy.rating.app import create_app as _create_app

    return _create_app(store)
