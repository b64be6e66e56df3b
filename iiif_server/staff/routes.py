"""The staff web form for conservation records, under ``/staff``.

::

    /staff/login                      GET form, POST name + password (scrypt-checked)
    /staff/logout                     POST
    /staff/records[?item=ID]          records, current revisions
    /staff/records/new[?item=ID]      pick an item from thumbnails, then the form; POST saves
    /staff/records/{id}               one record with its revisions and images
    /staff/records/{id}/amend         the form filled in; POST saves the next revision
    /staff/records/{id}/images/{path} a record's image as JPEG
    /staff/items/{item}/report        the printable report of an item

Logging in sets two cookies: ``shuying_staff`` (this form's session, path /staff,
SameSite=Strict) and, when the server has a token store, the IIIF login cookie, so the
page thumbnails of restricted and staff-only books load too. Every POST needs the
session's CSRF token in the form and, if the browser sends an Origin, this server's.
Saving runs in a worker thread: it makes and stores a new AIP version. Logins (failed and
throttled ones too: 429 with Retry-After), logouts, saves and sign-offs go into the staff
log (iiif_server/staff/audit_log.py).
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from iiif_server.access import SESSION_COOKIE as IIIF_COOKIE
from iiif_server.staff import pages
from iiif_server.staff.accounts import USER_NAME, AccountStore, Role, Session
from iiif_server.staff.desk import ConservationDesk
from iiif_server.staff.form import FormFields, form_record, safe_file_name
from iiif_server.tokens import TokenKind, TokenStore
from pipeline.conservation import (
    DuplicateRecordError,
    RecordError,
    RecordHistory,
    RevisionConflictError,
    UnknownRecordError,
)
from pipeline.errors import ImageError, ShuyingError
from pipeline.staff_log import StaffLog, log_path
from storage_config.settings import Settings

log = logging.getLogger(__name__)

STAFF_COOKIE = "shuying_staff"
LOGIN_COOKIE = "shuying_staff_login"
ACCOUNTS_FILE = "staff.sqlite"
IMAGE_ROLES = ("before", "after")
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StaffConfig:
    session_lifetime: int = 8 * 3600
    max_upload_bytes: int = 500 * 1024 * 1024
    max_files: int = 40


def accounts_path(home: Path) -> Path:
    """Return the staff account database of a Shuying home."""
    return Path(home) / ACCOUNTS_FILE


def staff_routes(settings: Settings, desk: ConservationDesk, tokens: TokenStore | None = None,
                 config: StaffConfig = StaffConfig(), clock: Callable[[], float] = time.time) -> list[Route]:
    """Return the /staff routes, saving through ``desk`` (see iiif_server/staff/desk.py)."""
    staff = StaffPages(settings, desk, AccountStore(accounts_path(settings.home), clock), tokens, config,
                       StaffLog(log_path(settings.home), clock))
    return [
        Route("/staff", staff.home), Route("/staff/", staff.home),
        Route("/staff/login", staff.login_page, methods=["GET"]), Route("/staff/login", staff.login, methods=["POST"]),
        Route("/staff/logout", staff.logout, methods=["POST"]),
        Route("/staff/records", staff.records),
        Route("/staff/records/new", staff.new_page, methods=["GET"]),
        Route("/staff/records/new", staff.create, methods=["POST"]),
        Route("/staff/records/{record_id}", staff.show),
        Route("/staff/records/{record_id}/amend", staff.amend_page, methods=["GET"]),
        Route("/staff/records/{record_id}/amend", staff.amend, methods=["POST"]),
        Route("/staff/records/{record_id}/images/{path:path}", staff.image),
        Route("/staff/items/{item_id}/report", staff.report),
    ]


def may_amend(session: Session, history: RecordHistory) -> bool:
    """Tell whether the account may amend a record: admins always; conservators unless it is another's and signed off."""
    role, record = session.account.role, history.current.record
    if role is Role.ADMIN:
        return True
    return role is Role.CONSERVATOR and (not record.signed_off or history.created_by == session.account.name)


class StaffPages:
    """The endpoints; each checks the session first."""

    def __init__(self, settings: Settings, desk: ConservationDesk, accounts: AccountStore, tokens: TokenStore | None,
                 config: StaffConfig, staff_log: StaffLog) -> None:
        self.settings, self.desk, self.accounts, self.tokens, self.config = settings, desk, accounts, tokens, config
        self.staff_log = staff_log
        self.secure = settings.base_url.startswith("https:")
        base = urlsplit(settings.base_url)
        self.headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
                        "Content-Security-Policy": f"default-src 'none'; img-src 'self' data: {base.scheme}://"
                        f"{base.netloc}; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"}

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{pages.STAFF}/records", status_code=303)

    async def login_page(self, request: Request, message: str = "", status: int = 200) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        next_path = request.query_params.get("next", "")
        response = self._page("馆员登录 Staff login", pages.login_body(message, token, next_path), None, status)
        response.set_cookie(LOGIN_COOKIE, token, path=pages.STAFF, httponly=True, samesite="strict",
                            secure=self.secure)
        return response

    async def login(self, request: Request) -> Response:
        async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
            fields = {k: str(v) for k, v in form.items()}
        if not self._same_origin(request) or not _same(fields.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")):
            return await self.login_page(request, "表单已过期，请重试。The form expired; try again.", 403)
        name, address = fields.get("user", ""), client_address(request)
        attempt = await run_in_threadpool(self.accounts.check_login, name, fields.get("password", ""), address)
        account = attempt.account
        if account is None:
            return await self._login_refused(request, name, attempt.retry_after)
        secret, session = self.accounts.start_session(account, self.config.session_lifetime)
        next_path = fields.get("next", "")
        target = next_path if next_path.startswith(f"{pages.STAFF}/") and "//" not in next_path else \
            f"{pages.STAFF}/records"
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(STAFF_COOKIE, secret, max_age=self.config.session_lifetime, path=pages.STAFF,
                            httponly=True, samesite="strict", secure=self.secure)
        response.delete_cookie(LOGIN_COOKIE, path=pages.STAFF)
        self._iiif_login(response, session)
        self.staff_log.append(account.name, "login", address=address, detail="staff form")
        log.info("staff login: %s (%s)", account.name, account.role.value)
        return response

    async def _login_refused(self, request: Request, name: str, retry_after: float) -> Response:
        """401 for a wrong name or password, 429 while locked: the same words whether the account exists or not."""
        typed = name if USER_NAME.fullmatch(name) else "?"  # not a password typed into the name field
        action = "login-throttled" if retry_after else "login-failed"
        self.staff_log.append(typed, action, address=client_address(request), detail="staff form")
        if not retry_after:
            return await self.login_page(request, "用户名或密码错误。Wrong user name or password.", 401)
        response = await self.login_page(request, "尝试过多，请稍后再试。Too many attempts; try again later.", 429)
        response.headers["Retry-After"] = str(math.ceil(retry_after))
        return response

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        async with request.form(max_files=0, max_fields=10, max_part_size=4096) as form:
            csrf = str(form.get("csrf", ""))
        if session is not None and self._csrf_ok(request, csrf, session):
            self.accounts.end_session(request.cookies.get(STAFF_COOKIE, ""))
            self._iiif_logout(request)
            self.staff_log.append(session.account.name, "logout", address=client_address(request))
        response = RedirectResponse(f"{pages.STAFF}/login", status_code=303)
        response.delete_cookie(STAFF_COOKIE, path=pages.STAFF)
        response.delete_cookie(IIIF_COOKIE, path="/")
        return response

    async def records(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        item_id = request.query_params.get("item", "")
        histories = await run_in_threadpool(self.desk.records, item_id or None)
        vocabularies = await run_in_threadpool(self.desk.vocabularies)
        saved = request.query_params.get("saved", "")
        notice = pages.saved_notice(saved) if saved else ""
        return self._page("修复档案 Conservation records", notice + pages.records_body(histories, vocabularies, item_id),
                          session)

    async def new_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        if not session.account.can_create:
            return self._message(session, 403, "您的角色不能新建修复档案。Your role cannot make records.")
        item_id = request.query_params.get("item", "")
        if not item_id:
            items = await run_in_threadpool(self.desk.items)
            return self._page("新建修复档案 New record", pages.picker_body(items, self.settings.base_url), session)
        values = {"conservators": [session.account.shown_name], "dates": {"started": datetime.now(UTC).date().isoformat()}}
        return await self._form(session, item_id, values, [], f"{pages.STAFF}/records/new?item={quote(item_id)}")

    async def create(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        item_id = request.query_params.get("item", "")
        if not session.account.can_create:
            return self._message(session, 403, "您的角色不能新建修复档案。Your role cannot make records.")
        return await self._submit(request, session, item_id, None)

    async def show(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        history = await self._history(request.path_params["record_id"])
        if history is None:
            return self._message(session, 404, f"没有此档案 No record {request.path_params['record_id']}.")
        item = await run_in_threadpool(self.desk.describe, history.current.record.item_id)
        vocabularies = await run_in_threadpool(self.desk.vocabularies)
        body = pages.record_body(history, item, vocabularies, can_amend=may_amend(session, history))
        return self._page(f"修复档案 {history.record_id}", body, session)

    async def amend_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        history = await self._history(request.path_params["record_id"])
        if history is None or not may_amend(session, history):
            return self._amend_refusal(session, history)
        record = history.current.record
        action = f"{pages.STAFF}/records/{quote(record.record_id)}/amend"
        return await self._form(session, record.item_id, record.as_dict(), [], action, revision=record.revision)

    async def amend(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        history = await self._history(request.path_params["record_id"])
        if history is None or not may_amend(session, history):
            return self._amend_refusal(session, history)
        return await self._submit(request, session, history.current.record.item_id, history)

    async def image(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        try:
            data = await run_in_threadpool(self.desk.image, request.path_params["record_id"], request.path_params["path"])
        except UnknownRecordError:
            return self._message(session, 404, "没有此图像 No such image.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})

    async def report(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        try:
            text = await run_in_threadpool(self.desk.report, request.path_params["item_id"])
        except RecordError as exc:
            return self._message(session, 404, "; ".join(exc.problems))
        return HTMLResponse(text, headers={**self.headers, "Content-Security-Policy":
                                           "default-src 'none'; img-src data:; style-src 'unsafe-inline'"})

    async def _submit(self, request: Request, session: Session, item_id: str,
                      history: RecordHistory | None) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > self.config.max_upload_bytes:
            return self._message(session, 413, f"上传过大 The upload is larger than "
                                               f"{self.config.max_upload_bytes // 2**20} MB (or of unknown size).")
        action = str(request.url.path) + (f"?item={quote(item_id)}" if history is None else "")
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="staff-upload-", dir=self.settings.work_dir) as scratch:
            async with request.form(max_files=self.config.max_files, max_fields=1000,
                                    max_part_size=256 * 1024) as form:
                items = list(form.multi_items())
                fields = FormFields([(k, v) for k, v in items if isinstance(v, str)])
                if not self._csrf_ok(request, fields.get("csrf"), session):
                    return self._message(session, 403, "表单已过期，请重新打开。The form expired; open it again.")
                kept = _kept_images(history, fields.all("keep_image"))
                uploads = await _save_uploads(items, Path(scratch), {i["file"] for i in kept})
            data, problems = form_record(fields, item_id, {r: list(n) for r, n in _by_role(uploads).items()}, kept)
            if problems:
                return await self._form(session, item_id, data, problems, action, _based_on(fields, history), 400)
            return await self._save(session, item_id, data, uploads, history, fields, action)

    async def _save(self, session: Session, item_id: str, data: dict[str, Any], uploads: dict[str, tuple[str, Path]],
                    history: RecordHistory | None, fields: FormFields, action: str) -> Response:
        images = {name: path for name, (_role, path) in uploads.items()}
        again = ["图像需重新选择 Choose the image files again."] if uploads else []
        try:
            if history is None:
                saved = await run_in_threadpool(self.desk.add, item_id, data, images, saved_by=session.account.name)
            else:
                saved = await run_in_threadpool(self.desk.amend, history.record_id, data, images,
                                                based_on=_based_on(fields, history), saved_by=session.account.name)
        except RecordError as exc:
            return await self._form(session, item_id, data, [*exc.problems, *again], action,
                                    _based_on(fields, history), 400)
        except ImageError as exc:
            problem = f"{Path(exc.path).name}: {exc.problem}"
            return await self._form(session, item_id, data, [problem, *again], action, _based_on(fields, history), 400)
        except RevisionConflictError as exc:
            return self._message(session, 409, f"冲突 Conflict: {exc}")
        except DuplicateRecordError as exc:  # the form sent twice: the first one was saved
            return self._message(session, 409, f"已保存 Already saved: {exc}")
        except ShuyingError as exc:
            log.error("saving a conservation record failed: %s", exc)
            return self._message(session, 500, f"保存失败 Not saved: {exc}")
        record = saved.record
        self._log_saved(session, history, record.record_id, record.revision, record.signed_off)
        query = urlencode({"item": record.item_id, "saved": record.record_id})
        return RedirectResponse(f"{pages.STAFF}/records?{query}", status_code=303)

    def _log_saved(self, session: Session, history: RecordHistory | None, record_id: str, revision: int,
                   signed_off: bool) -> None:
        """Log a save or amendment, and a sign-off when this revision is the one that signs the record off."""
        name = session.account.name
        self.staff_log.append(name, "record-save" if history is None else "record-amend", record_id,
                              detail=f"revision {revision}")
        if signed_off and not (history and history.current.record.signed_off):
            self.staff_log.append(name, "record-sign-off", record_id, detail=f"revision {revision}")

    async def _form(self, session: Session, item_id: str, values: dict[str, Any], errors: list[str], action: str,
                    revision: int = 0, status: int = 200) -> Response:
        try:
            item = await run_in_threadpool(self.desk.describe, item_id)
        except RecordError as exc:
            return self._message(session, 404, "; ".join(exc.problems))
        vocabularies = await run_in_threadpool(self.desk.vocabularies)
        body = pages.form_body(item, vocabularies, values, errors=errors, csrf=session.csrf,
                               base_url=self.settings.base_url, action=action, revision=revision)
        title = f"修订 Amend {values.get('id', '')}" if revision else "新建修复档案 New record"
        return self._page(title, body, session, status)

    async def _history(self, record_id: str) -> RecordHistory | None:
        try:
            return await run_in_threadpool(self.desk.history, record_id)
        except UnknownRecordError:
            return None

    def _amend_refusal(self, session: Session, history: RecordHistory | None) -> Response:
        if history is None:
            return self._message(session, 404, "没有此档案 No such record.")
        if session.account.role is Role.CONSERVATOR:
            return self._message(session, 403, f"{history.record_id} 已由他人签署，不能修订。It is signed off by "
                                               f"{history.created_by}; you cannot amend it.")
        return self._message(session, 403, "您的角色不能修订修复档案。Your role cannot amend records.")

    def _session(self, request: Request) -> Session | None:
        return self.accounts.session(request.cookies.get(STAFF_COOKIE, ""))

    def _csrf_ok(self, request: Request, token: str, session: Session) -> bool:
        return self._same_origin(request) and _same(token, session.csrf)

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if not origin:
            return True
        base = urlsplit(self.settings.base_url)
        own = {f"{base.scheme}://{base.netloc}", f"{request.url.scheme}://{request.headers.get('host', '')}"}
        return origin.lower() in {o.lower() for o in own}

    def _iiif_login(self, response: Response, session: Session) -> None:
        if self.tokens is None:
            return
        issued = self.tokens.create(session.account.name, self.config.session_lifetime, kind=TokenKind.SESSION,
                                    note="staff form login")
        response.set_cookie(IIIF_COOKIE, issued.secret, max_age=self.config.session_lifetime, path="/",
                            httponly=True, samesite="lax", secure=self.secure)

    def _iiif_logout(self, request: Request) -> None:
        if self.tokens is None:
            return
        record = self.tokens.verify(request.cookies.get(IIIF_COOKIE, ""))
        if record is not None and record.kind is TokenKind.SESSION:
            self.tokens.revoke(record.id)

    def _to_login(self, request: Request) -> Response:
        return RedirectResponse(f"{pages.STAFF}/login?{urlencode({'next': request.url.path})}", status_code=303)

    def _page(self, title: str, body: str, session: Session | None, status: int = 200) -> HTMLResponse:
        return HTMLResponse(pages.layout(title, body, session), status_code=status, headers=self.headers)

    def _message(self, session: Session, status: int, text: str) -> HTMLResponse:
        return self._page(f"{status}", pages.message_body(text), session, status)


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy, as the proxy headers give it)."""
    return request.client.host if request.client else ""


async def _save_uploads(items: list[tuple[str, Any]], folder: Path, taken: set[str]) -> dict[str, tuple[str, Path]]:
    """Write the uploaded images to ``folder`` under names not in ``taken``; return name -> (role, path)."""
    saved: dict[str, tuple[str, Path]] = {}
    for role, value in items:
        if role not in IMAGE_ROLES or not isinstance(value, UploadFile) or not value.filename:
            continue
        name = safe_file_name(value.filename, taken)
        await run_in_threadpool(_copy, value.file, folder / name)  # already spooled to disk by the parser
        saved[name] = (role, folder / name)
    return saved


def _copy(source: BinaryIO, dest: Path) -> None:
    source.seek(0)
    with open(dest, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)


def _by_role(uploads: dict[str, tuple[str, Path]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, (role, _path) in uploads.items():
        grouped.setdefault(role, []).append(name)
    return grouped


def _kept_images(history: RecordHistory | None, names: list[str]) -> list[dict[str, Any]]:
    if history is None:
        return []
    current = history.current.record.as_dict().get("images", [])
    return [image for image in current if image["file"] in names]


def _based_on(fields: FormFields, history: RecordHistory | None) -> int:
    text = fields.get("revision")
    return int(text) if text.isdigit() else (history.current.record.revision if history else 0)


def _same(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
