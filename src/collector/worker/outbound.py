"""Every connection a download makes is checked against the address it connects to.

A URL checked when it was queued can still lead inside: a public name that
resolves to 127.0.0.1, a redirect to ``http://169.254.169.254/``. So each download's
YoutubeDL gets one request handler, yt-dlp's urllib handler with two checks added:
every request's URL (redirects included) passes the queue's check of its host as
written, and every socket is connected only after the address ``getaddrinfo`` gave
for it is found public or allowed. A refused connection is never attempted, so its
error reads the same whether the port is open or closed.

The checks belong to one download (``OutboundGuard``, held by its YoutubeDL):
nothing global is patched, and worker threads do not share them.

Through an HTTP proxy (yt-dlp's ``proxy`` option, or HTTP_PROXY in the
environment) the socket goes to the proxy, whose address is checked; the target's
name is resolved by the proxy, so only its host as written is checked here. SOCKS
proxies, FTP, and the other handlers yt-dlp may find installed (requests,
websockets, curl_cffi) are not offered: they connect without these checks.
Downloaders that run another program (ffmpeg for live streams, rtmpdump) are
refused unless every address is allowed.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import logging
import socket
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.external import ExternalFD
from yt_dlp.downloader.rtmp import RtmpFD
from yt_dlp.networking._helper import _socket_connect, create_connection
from yt_dlp.networking._urllib import (
    DataHandler,
    HTTPCookieProcessor,
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    ProxyHandler,
    RedirectHandler,
    UnknownHandler,
    UrllibRH,
    _create_http_connection,
)

from collector.models.outbound import (
    ALLOW_HINT,
    NO_HOSTS,
    AllowedHosts,
    internal_kind,
    normalise_host,
    refusal,
)

logger = logging.getLogger(__name__)

Address = tuple[str, int]


class OutboundRefused(OSError):
    """A connection the outbound policy refused, before anything was sent."""


class OutboundGuard:
    """One download's checks; remembers the first refusal, the job's reason to fail."""

    def __init__(self, allowed: AllowedHosts = NO_HOSTS) -> None:
        self.allowed = allowed
        self._lock = threading.Lock()
        self.refused: str | None = None

    def refuse(self, message: str) -> OutboundRefused:
        """Record ``message`` (the first one wins) and return the error to raise."""
        with self._lock:
            if self.refused is None:
                self.refused = message
        logger.info("%s", message)
        return OutboundRefused(message)

    def check_url(self, url: str) -> None:
        """OutboundRefused if the URL's host, as written, is internal and not allowed."""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return  # urllib refuses it on its own
        reason = refusal(host, self.allowed) if host else None
        if reason is not None:
            raise self.refuse(reason)

    def create_connection(
        self,
        address: Address,
        timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]  # http.client's default
        source_address: Address | None = None,
    ) -> socket.socket:
        """yt-dlp's create_connection, each resolved address checked before connecting."""
        host = str(address[0])
        if self.allowed.allows_name(normalise_host(host)):
            return create_connection(address, timeout, source_address)
        connect = functools.partial(self._connect, host)
        return create_connection(address, timeout, source_address, _create_socket_func=connect)

    def _connect(
        self, host: str, addrinfo: tuple[Any, ...], timeout: Any, source: Address | None
    ) -> socket.socket:
        address = ipaddress.ip_address(str(addrinfo[4][0]).split("%", 1)[0])
        kind = internal_kind(address)
        if kind is not None and not self.allowed.allows_address(address):
            raise self.refuse(
                f"refused: {host} resolves to an internal address ({address}, {kind}); {ALLOW_HINT}"
            )
        return _socket_connect(addrinfo, timeout, source)

    def check_downloader(
        self, info: dict[str, Any], params: dict[str, Any], to_stdout: bool
    ) -> None:
        """Refuse a downloader that runs another program (its connections go unchecked)."""
        if self.allowed.allows_everything:
            return
        downloader = get_suitable_downloader(dict(info), params, to_stdout=to_stdout)
        if downloader is not None and issubclass(downloader, (ExternalFD, RtmpFD)):
            name = downloader.get_basename() if issubclass(downloader, ExternalFD) else "rtmpdump"
            raise self.refuse(
                f"refused: this media needs {name}, whose connections cannot be checked; "
                "allow every address (0.0.0.0/0,::/0) to use it"
            )


class CheckedHTTPHandler(HTTPHandler):
    """yt-dlp's HTTP handler whose connections go through an OutboundGuard."""

    def __init__(self, guard: OutboundGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _connection(
        self, conn_class: type, *args: Any, **kwargs: Any
    ) -> http.client.HTTPConnection:
        connection = _create_http_connection(conn_class, self._source_address, *args, **kwargs)
        connection._create_connection = self._guard.create_connection  # type: ignore[attr-defined]  # http.client's seam for it
        return connection

    def _checked(self, req: urllib.request.Request) -> None:
        try:
            self._guard.check_url(req.full_url)
        except OutboundRefused as exc:
            raise urllib.error.URLError(exc) from None  # as do_open reports a failed connect

    def http_open(self, req: urllib.request.Request) -> Any:
        self._checked(req)
        conn_class = self._make_conn_class(http.client.HTTPConnection, req)
        return self.do_open(functools.partial(self._connection, conn_class), req)

    def https_open(self, req: urllib.request.Request) -> Any:
        self._checked(req)
        conn_class = self._make_conn_class(http.client.HTTPSConnection, req)
        return self.do_open(
            functools.partial(self._connection, conn_class), req, context=self._context
        )


class CheckedUrllibRH(UrllibRH):
    """yt-dlp's urllib request handler, its HTTP connections checked; HTTP proxies only."""

    RH_NAME = "urllib (outbound checked)"
    _SUPPORTED_URL_SCHEMES = ("http", "https", "data")
    _SUPPORTED_PROXY_SCHEMES = ("http",)

    def __init__(self, *, guard: OutboundGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard
        self._SUPPORTED_URL_SCHEMES = CheckedUrllibRH._SUPPORTED_URL_SCHEMES  # never file://

    def _create_instance(
        self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None
    ) -> urllib.request.OpenerDirector:
        """UrllibRH's opener, with CheckedHTTPHandler for HTTPHandler and no FTP handler."""
        opener = urllib.request.OpenerDirector()
        handlers = [
            ProxyHandler(proxies),
            CheckedHTTPHandler(
                self.guard,
                debuglevel=int(bool(self.verbose)),
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            HTTPCookieProcessor(cookiejar),
            DataHandler(),
            UnknownHandler(),
            HTTPDefaultErrorHandler(),
            HTTPErrorProcessor(),
            RedirectHandler(),
        ]
        for handler in handlers:
            opener.add_handler(handler)
        opener.addheaders = []  # as UrllibRH: no urllib User-Agent
        return opener
