"""The rating web app: one item per page, answers saved as they are given.

Plain server-rendered HTML (jinja2) with a little inline script for keyboard shortcuts and
autosave; the form also works without script. FastAPI is imported here at module level
(it reads the handlers' annotations); ``understudy.rating`` imports this module lazily. Every URL carries the annotator's token;
a request with an unknown token gets the same 403 whatever it asked for, an item or image
that is not the annotator's own gets 404, and images are served by opaque ids only.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from understudy.rating.store import AnswerRejected, Annotator, StudyStore

TEMPLATES = Path(__file__).with_name("templates")
KEYS = "123456789"


def same_origin(request: Any) -> bool:
    """False when the browser says the request comes from another site: an ``Origin`` whose
    host is not ours, or ``Sec-Fetch-Site: cross-site``. Clients that send neither (curl,
    scripts of the organiser) hold the token anyway."""
    from urllib.parse import urlsplit

    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin == "null":
        # Our pages send no referrer (the token is in the URL), so a browser posts our own
        # forms with ``Origin: null``: believe it only with ``Sec-Fetch-Site: same-origin``.
        return fetch_site == "same-origin"
    if origin is not None:
        return urlsplit(origin).netloc == request.headers.get("host", "")
    return (fetch_site or "same-origin") in ("same-origin", "none")


def create_app(store: StudyStore) -> Any:
    """The FastAPI app for one study (``uvicorn.run(create_app(store), host=..., port=...)``)."""
    store.check()
    meta = store.meta()
    allow_changes = bool(meta["options"].get("allow_changes", True))
    admin_token = str(meta["admin_token"])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]))
    app = FastAPI(title="understudy rating", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method not in ("GET", "HEAD") and not same_origin(request):
            # Cross-site request forgery: another page posting answers in the name of an
            # annotator whose browser holds the link.
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        nonce = secrets.token_urlsafe(12)
        request.state.nonce = nonce
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; "
            f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(nonce=request.state.nonce,
                                                 study=meta.get("name", ""), **context)
        return HTMLResponse(html, status_code=status)

    def forbidden(request: Request, json: bool = False) -> Any:
        if json:
            return JSONResponse({"error": "unknown or revoked link"}, status_code=403)
        return page(request, "message.html", 403, title="Link not valid",
                    message="This link is not valid. Ask the study organiser for your link.")

    def who(token: str) -> Annotator | None:
        return store.annotator_by_token(token)

    def item_context(annotator: Annotator, position: int) -> dict[str, Any] | None:
        view = store.item_at(annotator, position)
        if view is None:
            return None
        done, total = store.progress(annotator)
        labels = ["A", "B"] if view.kind == "pair" else [""]
        return {"token": annotator.token, "item": view, "done": done, "total": total,
                "labels": labels, "keys": KEYS, "position": position,
                "last": position + 1 >= total, "allow_changes": allow_changes}

    @app.get("/s/{token}/", response_class=HTMLResponse)
    def start(request: Request, token: str) -> Any:
        annotator = who(token)
        if annotator is None:
            return forbidden(request)
        position = store.first_open_position(annotator)
        if position is None:
            return RedirectResponse(f"/s/{token}/done", status_code=303)
        return RedirectResponse(f"/s/{token}/item/{position}", status_code=303)

    @app.get("/s/{token}", include_in_schema=False)
    def start_no_slash(request: Request, token: str) -> Any:
        return start(request, token)

    @app.get("/s/{token}/item/{position}", response_class=HTMLResponse)
    def show_item(request: Request, token: str, position: int) -> Any:
        annotator = who(token)
        if annotator is None:
            return forbidden(request)
        context = item_context(annotator, position)
        if context is None:
            return page(request, "message.html", 404, title="No such item",
                        message="There is no such item in your study.",
                        link=f"/s/{token}/")
        return page(request, "item.html", **context)

    @app.post("/s/{token}/item/{position}", response_class=HTMLResponse)
    async def submit_item(request: Request, token: str, position: int) -> Any:
        annotator = await run_in_threadpool(who, token)
        if annotator is None:
            return forbidden(request)
        view = await run_in_threadpool(store.item_at, annotator, position)
        if view is None:
            return page(request, "message.html", 404, title="No such item",
                        message="There is no such item in your study.", link=f"/s/{token}/")
        form = await request.form()
        error = ""
        for question in view.questions:
            value = form.get(f"q{question.id}")
            if value is None:
                continue
            try:
                await run_in_threadpool(store.save_answer, annotator, view.id, question.id,
                                        str(value), allow_changes)
            except AnswerRejected as exc:
                error = str(exc)
        context = await run_in_threadpool(item_context, annotator, position)
        assert context is not None
        missing = [q for q in view.questions if q.id not in context["item"].answers]
        if error or missing:
            context["error"] = error or "Please answer every question before going on."
            return page(request, "item.html", 422, **context)
        total = context["total"]
        if position + 1 < total:
            return RedirectResponse(f"/s/{token}/item/{position + 1}", status_code=303)
        following = await run_in_threadpool(store.first_open_position, annotator)
        target = "done" if following is None else f"item/{following}"
        return RedirectResponse(f"/s/{token}/{target}", status_code=303)

    @app.post("/s/{token}/answer")
    async def answer(request: Request, token: str) -> Any:
        annotator = await run_in_threadpool(who, token)
        if annotator is None:
            return forbidden(request, json=True)
        try:
            body = await request.json()
            item_id, question_id, value = str(body["item"]), int(body["question"]), body["value"]
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "send JSON {item, question, value}"}, status_code=400)
        try:
            created, revisions = await run_in_threadpool(
                store.save_answer, annotator, item_id, question_id, str(value), allow_changes)
        except AnswerRejected as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        done, total = await run_in_threadpool(store.progress, annotator)
        return {"saved": True, "created": created, "revisions": revisions,
                "done": done, "total": total}

    @app.get("/s/{token}/api/item/{item_id}")
    def item_json(request: Request, token: str, item_id: str) -> Any:
        """An item with this annotator's own answers; another's items are 404."""
        annotator = who(token)
        if annotator is None:
            return forbidden(request, json=True)
        view = store.item_by_id(annotator, item_id)
        if view is None:
            return JSONResponse({"error": "unknown item"}, status_code=404)
        return {"item": view.id, "position": view.position, "kind": view.kind,
                "images": view.images,
                "questions": [{"id": q.id, "text": q.text, "choices": q.choices}
                              for q in view.questions],
                "answers": {str(k): v for k, v in view.answers.items()}}

    @app.get("/s/{token}/progress")
    def progress(request: Request, token: str) -> Any:
        annotator = who(token)
        if annotator is None:
            return forbidden(request, json=True)
        done, total = store.progress(annotator)
        return {"done": done, "total": total}

    @app.get("/s/{token}/image/{image_id}")
    def image(request: Request, token: str, image_id: str) -> Any:
        annotator = who(token)
        if annotator is None:
            return forbidden(request)
        path = store.image_file_for(annotator, image_id)
        if path is None or not path.is_file():
            return JSONResponse({"error": "unknown image"}, status_code=404)
        media = "image/jpeg" if path.suffix == ".jpg" else "image/png"
        return FileResponse(path, media_type=media)

    @app.get("/s/{token}/done", response_class=HTMLResponse)
    def done_page(request: Request, token: str) -> Any:
        annotator = who(token)
        if annotator is None:
            return forbidden(request)
        done, total = store.progress(annotator)
        following = store.first_open_position(annotator)
        return page(request, "done.html", token=token, done=done, total=total,
                    open_position=following)

    @app.get("/admin/{token}", response_class=HTMLResponse)
    def admin(request: Request, token: str) -> Any:
        """Progress per annotator for the organiser (counts only, never answers)."""
        if not secrets.compare_digest(token.encode(), admin_token.encode()):
            return forbidden(request)
        rows = [(a.label, a.token, *store.progress(a)) for a in store.annotators()]
        return page(request, "admin.html", rows=rows)

    return app
