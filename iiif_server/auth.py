"""Staff login and the IIIF Authorization Flow 2.0 services: probe, access (login), token, logout.

::

    /auth/login              access service (profile "active"): a form for a staff token;
                             success sets the login cookie (HttpOnly, SameSite=Lax)
    /auth/token              access-token service: in an iframe, posts a short-lived viewer
                             token to the opening page if its origin is allowed
    /auth/logout             logout service: revokes the login and its viewer tokens
    /auth/probe/{identifier} probe service of one image: 200 if the requester gets it in
                             full, 401 (in the body) if only reduced

Here a staff member logs in by pasting a token made with ``shuying token create`` (the
/staff form has name and password accounts). The cookie is SameSite=Lax, so a page on
another site can neither use it nor obtain a viewer token through an iframe. Failed
token logins are throttled per client address (429 with Retry-After) and, given a staff
log, logins and logouts are written to it.
"""

from __future__ import annotations

import html
import json
import logging
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from iiif_server.access import SESSION_COOKIE, AccessPolicy, Grant
from iiif_server.errors import BadRequest, Forbidden
from iiif_server.published import PublishedStore, image_parts, missing, parse_identifier
from iiif_server.staff.throttle import ADDRESS_THROTTLE
from iiif_server.tokens import TokenKind, TokenStore
from pipeline.staff_log import StaffLog

log = logging.getLogger(__name__)

AUTH_CONTEXT = "http://iiif.io/api/auth/2/context.json"
MAX_FORM_BYTES = 8192
LOGIN_LABEL = {"zh-Hant": ["館員登入"], "zh-Hans": ["馆员登录"], "en": ["Staff login"]}
LOGOUT_LABEL = {"zh-Hant": ["登出"], "zh-Hans": ["登出"], "en": ["Log out"]}
REDUCED_HEADING = {"zh-Hant": ["館員登入後可看全解析度"], "zh-Hans": ["馆员登录后可看全分辨率"],
                   "en": ["Full resolution for staff"]}
REDUCED_NOTE = {"zh-Hant": ["此書為限制閱覽，公眾僅可瀏覽較小圖像。"], "zh-Hans": ["此书为限制阅览，公众仅可浏览较小图像。"],
                "en": ["This book is restricted: the public sees reduced images."]}
NO_STORE = {"Cache-Control": "no-store"}
FRAME_DENY = {**NO_STORE, "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
PAGE = """<!DOCTYPE html>
<html lang="zh-Hant"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title} · 书影</title></head>
<body>{body}</body></html>
"""
LOGIN_FORM = """<h1>館員登入 Staff login</h1>
{message}<form method="post" action="login">
<label>權杖 Token <input type="password" name="token" autocomplete="off" required size="50"></label>
<input type="hidden" name="origin" value="{origin}"><input type="hidden" name="next" value="{next}">
<button type="submit">登入 Log in</button></form>
<p>權杖由管理員以 <code>shuying token create</code> 發給。Tokens come from <code>shuying token create</code>.</p>
"""
CLOSE_WINDOW = "<script>window.close();</script>"
TOKEN_PAGE = "<script>window.parent.postMessage({message}, {origin});</script>"


@dataclass(frozen=True)
class AuthConfig:
    base_url: str
    session_lifetime: int
    viewer_token_lifetime: int
    token_origins: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return origin_of(self.base_url)

    @property
    def secure_cookie(self) -> bool:
        return self.base_url.startswith("https:")


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of a URL (a web origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def probe_service(base_url: str, identifier: str) -> dict[str, Any]:
    """Return the Auth 2.0 service block an info.json (or manifest) of a non-public image carries."""
    return {
        "id": f"{base_url}/auth/probe/{identifier}",
        "type": "AuthProbeService2",
        "service": [{
            "id": f"{base_url}/auth/login",
            "type": "AuthAccessService2",
            "profile": "active",
            "label": LOGIN_LABEL,
            "heading": REDUCED_HEADING,
            "service": [
                {"id": f"{base_url}/auth/token", "type": "AuthAccessTokenService2"},
                {"id": f"{base_url}/auth/logout", "type": "AuthLogoutService2", "label": LOGOUT_LABEL},
            ],
        }],
    }


class AuthService:
    """Answer the login, token, logout and probe routes."""

    def __init__(self, store: PublishedStore, policy: AccessPolicy, tokens: TokenStore, config: AuthConfig,
                 staff_log: StaffLog | None = None) -> None:
        self.store = store
        self.policy = policy
        self.tokens = tokens
        self.config = config
        self.staff_log = staff_log

    async def login_page(self, request: Request) -> Response:
        """Return the login form (GET /auth/login)."""
        params = request.query_params
        requester = self.policy.requester(request)
        message = f"<p>已登入 Logged in as {html.escape(requester.user)}.</p>" if requester.is_staff else ""
        return self._form(message, params.get("origin", ""), params.get("next", ""), 200)

    async def login(self, request: Request) -> Response:
        """Check a staff token and set the login cookie (POST /auth/login)."""
        self._same_origin(request)
        form = await read_form(request)
        address = request.client.host if request.client else ""
        wait = ADDRESS_THROTTLE.retry_after(self.tokens.failed_logins(address, ADDRESS_THROTTLE.window),
                                            self.tokens.clock())
        if wait:
            return self._refused(form, address, wait)
        record = self.tokens.verify(form.get("token", "").strip())
        if record is None or record.kind is not TokenKind.STAFF:
            self.tokens.record_failed_login(address, ADDRESS_THROTTLE.window)
            return self._refused(form, address, 0.0)
        session = self.tokens.create(record.user, self.config.session_lifetime, kind=TokenKind.SESSION,
                                     parent=record, note="web login")
        self._log(record.user, "login", address, f"token {record.id}")
        log.info("staff login: %s (token %s, session %s)", record.user, record.id, session.record.id)
        response = self._after_login(form)
        response.set_cookie(SESSION_COOKIE, session.secret, max_age=int(session.record.expires - session.record.created),
                            path="/", secure=self.config.secure_cookie, httponly=True, samesite="lax")
        return response

    async def token(self, request: Request) -> Response:
        """Post a viewer access token (or an error) to the page that framed us (GET /auth/token)."""
        message_id = request.query_params.get("messageId", "")
        origin = request.query_params.get("origin", "")
        if not message_id or not origin:
            return self._post_message(_token_error("invalidRequest", message_id, "messageId and origin are required"),
                                      origin or "*")
        if origin_of(origin) not in self._allowed_origins():
            return self._post_message(_token_error("invalidOrigin", message_id, "this origin may not get tokens"),
                                      origin)
        session = self.tokens.verify(request.cookies.get(SESSION_COOKIE, ""))
        if session is None or session.kind is not TokenKind.SESSION:
            return self._post_message(_token_error("missingAspect", message_id, "not logged in"), origin)
        issued = self.tokens.create(session.user, self.config.viewer_token_lifetime, kind=TokenKind.VIEWER,
                                    parent=session, note=f"viewer at {origin_of(origin)}")
        return self._post_message({"@context": AUTH_CONTEXT, "type": "AuthAccessToken2", "messageId": message_id,
                                   "accessToken": issued.secret,
                                   "expiresIn": int(issued.record.expires - issued.record.created)}, origin)

    async def logout(self, request: Request) -> Response:
        """Revoke the login cookie's session and every viewer token from it (GET /auth/logout)."""
        session = self.tokens.verify(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None and session.kind is TokenKind.SESSION:
            self.tokens.revoke(session.id)
            self._log(session.user, "logout", request.client.host if request.client else "", f"session {session.id}")
            log.info("staff logout: %s (session %s)", session.user, session.id)
        response = HTMLResponse(PAGE.format(title="登出 Logged out", body="<p>已登出。Logged out.</p>" + CLOSE_WINDOW),
                                headers=FRAME_DENY)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.config.secure_cookie, httponly=True,
                               samesite="lax")
        return response

    async def probe(self, request: Request) -> Response:
        """Tell a client whether it gets an image in full (Auth 2.0 probe, GET /auth/probe/{identifier})."""
        identifier = request.path_params["identifier"]
        page = parse_identifier(identifier)
        decision = self.policy.decide(request, page.item_id)
        if decision.grant is Grant.HIDDEN:
            raise missing(*image_parts(page))
        self.store.page_image(page)  # 404 for a page that is not published
        result: dict[str, Any] = {"@context": AUTH_CONTEXT, "id": f"{self.config.base_url}/auth/probe/{identifier}",
                                  "type": "AuthProbeResult2", "status": 200}
        if decision.grant is Grant.REDUCED:
            result.update(status=401, heading=REDUCED_HEADING, note=REDUCED_NOTE)
        return JSONResponse(result, headers={**NO_STORE, "Vary": "Authorization, Cookie"})

    def _refused(self, form: dict[str, str], address: str, wait: float) -> Response:
        """401 for a bad token; 429 with Retry-After while this address is locked (the token unchecked)."""
        self._log("?", "login-throttled" if wait else "login-failed", address, "token login")
        if not wait:
            message = "<p role=alert>權杖無效、過期或已撤銷。The token is unknown, expired or revoked.</p>"
            return self._form(message, form.get("origin", ""), form.get("next", ""), 401)
        message = "<p role=alert>嘗試過多，請稍後再試。Too many attempts; try again later.</p>"
        response = self._form(message, form.get("origin", ""), form.get("next", ""), 429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response

    def _log(self, actor: str, action: str, address: str, detail: str) -> None:
        if self.staff_log is not None:
            self.staff_log.append(actor, action, address=address, detail=detail)

    def _form(self, message: str, origin: str, next_path: str, status: int) -> Response:
        body = LOGIN_FORM.format(message=message, origin=html.escape(origin), next=html.escape(next_path))
        return HTMLResponse(PAGE.format(title="館員登入 Staff login", body=body), status_code=status,
                            headers=FRAME_DENY)

    def _after_login(self, form: dict[str, str]) -> Response:
        next_path = form.get("next", "")
        if form.get("origin"):  # opened by a IIIF client as the access service: close and let it continue
            return HTMLResponse(PAGE.format(title="已登入 Logged in", body="<p>已登入。Logged in.</p>" + CLOSE_WINDOW),
                                headers=FRAME_DENY)
        if is_local_path(next_path):
            return RedirectResponse(f"{self.config.base_url}{next_path}", status_code=303, headers=NO_STORE)
        return HTMLResponse(PAGE.format(title="已登入 Logged in", body='<p>已登入。Logged in. <a href="../">書目 Books</a></p>'),
                            headers=FRAME_DENY)

    def _post_message(self, message: dict[str, Any], origin: str) -> Response:
        body = TOKEN_PAGE.format(message=_script_json(message), origin=_script_json(origin))
        return HTMLResponse(PAGE.format(title="token", body=body), headers=NO_STORE)

    def _allowed_origins(self) -> set[str]:
        return {self.config.origin, *(origin_of(o) for o in self.config.token_origins)}

    def _same_origin(self, request: Request) -> None:
        # A form posted from another site (login CSRF) carries that site's Origin header.
        origin = request.headers.get("origin")
        if origin and origin.lower() not in self._allowed_origins():
            raise Forbidden(f"a login from {origin!r} is not accepted", "origin")


async def read_form(request: Request) -> dict[str, str]:
    """Read a small urlencoded form body; the first value of each field."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BadRequest("expected an application/x-www-form-urlencoded form", "body")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadRequest(f"form is larger than {MAX_FORM_BYTES} bytes", "body")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("form is not UTF-8", "body") from None
    return {name: values[0] for name, values in fields.items()}


def is_local_path(path: str) -> bool:
    """Tell whether ``path`` is a path on this server (so redirecting there cannot leave the site)."""
    return path.startswith("/") and not path.startswith("//") and "\\" not in path and all(
        ord(c) > 31 for c in path)


def _token_error(profile: str, message_id: str, note: str) -> dict[str, Any]:
    return {"@context": AUTH_CONTEXT, "type": "AuthAccessTokenError2", "profile": profile,
            "messageId": message_id, "note": {"en": [note]}}


def _script_json(value: Any) -> str:
    # Inside <script>, "</script>" in a string would end the element: JSON may escape "<".
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
