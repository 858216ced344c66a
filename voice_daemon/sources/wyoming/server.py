"""The Wyoming source: the protocol library's TCP server on a thread and event loop of its own.

It listens before the model loads, so a client (Home Assistant setting up the integration)
gets an ``error`` event saying the daemon is starting rather than a refused connection, and
tries again.  Beyond ``max_connections`` at once a connection is answered with an ``error`` and
closed.  Synthesis never runs on the loop (see ``reply``).  With ``zeroconf = true`` the server
is announced as ``_wyoming._tcp`` (needs the optional ``zeroconf`` package).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlparse

from wyoming.server import AsyncTcpServer

from voice_daemon.core.port import SourcePort
from voice_daemon.core.request import Limits
from voice_daemon.errors import ConfigError
from voice_daemon.settings import WyomingSettings
from voice_daemon.sources.lifecycle import ConnectionSource
from voice_daemon.sources.wyoming.handler import SpeechHandler
from voice_daemon.sources.wyoming.voices import PROGRAM

log = logging.getLogger(__name__)

_SERVICE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"
_START_TIMEOUT = 10
_STOP_TIMEOUT = 10


class WyomingSource(ConnectionSource):
    """The Wyoming server; :meth:`open` it early, :meth:`attach` the seam, then :meth:`start` it."""

    name = "Wyoming server"

    def __init__(self, settings: WyomingSettings) -> None:
        super().__init__()
        self.settings = settings
        self.limits = Limits()
        self.uri = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="wyoming", daemon=True)
        self._server: AsyncTcpServer | None = None
        self._handlers: set[SpeechHandler] = set()  # the connections open, touched on the loop only
        self._zeroconf: Any = None  # zeroconf.asyncio.AsyncZeroconf, once announced

    @property
    def address(self) -> str:
        return self.uri

    def _listen(self) -> None:
        self._thread.start()
        try:
            self._call(self._open(), _START_TIMEOUT)
        except OSError as exc:
            self._close_loop()
            raise ConfigError(
                f"wyoming: cannot listen on {self.settings.uri}: {exc.strerror or exc}"
            ) from None

    def _attaching(self, seam: SourcePort) -> None:
        self.limits = seam.limits

    def _starting(self, seam: SourcePort) -> None:
        """Announce the server over zeroconf when asked to."""
        if self.settings.zeroconf:
            try:
                self._call(self._announce(), _START_TIMEOUT)
            except Exception as exc:  # a convenience: the server serves without it
                log.warning(
                    "wyoming: could not announce the server over zeroconf: %s", exc or type(exc).__name__
                )

    def _close(self) -> None:
        """Stop listening and close every connection (each reply in progress ends with an error event)."""
        if self._server is not None and self._loop.is_running():
            try:
                self._call(self._close_all(), _STOP_TIMEOUT + 1)
            except TimeoutError:
                log.warning("wyoming: connections did not close within %d s", _STOP_TIMEOUT)
        self._close_loop()

    # -- on the loop ----------------------------------------------------------------------------

    async def _open(self) -> None:
        address = urlparse(self.settings.uri)
        self._server = AsyncTcpServer(address.hostname or "", address.port or 0)
        await self._server.start(lambda reader, writer: SpeechHandler(reader, writer, self))
        # wyoming's asyncio server is Optional until start(), which has just made it.
        host, port = self._server._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        self.uri = f"tcp://{f'[{host}]' if ':' in host else host}:{port}"

    def admit(self, handler: SpeechHandler) -> bool:
        """Count a new connection in; False beyond ``max_connections`` (on the loop)."""
        if len(self._handlers) >= self.settings.max_connections:
            return False
        self._handlers.add(handler)
        return True

    def release(self, handler: SpeechHandler) -> None:
        self._handlers.discard(handler)

    async def _close_all(self) -> None:
        assert self._server is not None
        await self._unannounce()
        await self._server.stop()  # stops listening, ends every handler's reading
        for _ in range(int(_STOP_TIMEOUT / 0.05)):
            if not self._handlers:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError

    async def _announce(self) -> None:
        """Register ``voice-daemon._wyoming._tcp`` over mDNS (what Home Assistant's discovery looks for)."""
        try:
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
        except ImportError:
            log.warning(
                "wyoming.zeroconf is on but the zeroconf package is not installed "
                "(pip install zeroconf); the server is not announced"
            )
            return
        address = urlparse(self.uri)
        host = _announced_host(address.hostname or "") or _own_address()
        if ipaddress.ip_address(host).is_loopback:
            log.warning(
                "wyoming.zeroconf announces %s, a loopback address: only this host can connect "
                "(listen on tcp://0.0.0.0:PORT for Home Assistant elsewhere)",
                host,
            )
        service = AsyncServiceInfo(
            _SERVICE, f"{PROGRAM}.{_SERVICE}", addresses=[socket.inet_aton(host)], port=address.port
        )
        self._zeroconf = AsyncZeroconf()
        # registered (another daemon's name taken: "voice-daemon (2)"), then broadcast
        await (await self._zeroconf.async_register_service(service, allow_name_change=True))
        log.info("Wyoming server announced over zeroconf as %s at %s", service.name, host)

    async def _unannounce(self) -> None:
        if self._zeroconf is not None:
            await self._zeroconf.async_unregister_all_services()
            await self._zeroconf.async_close()

    # -- inside ---------------------------------------------------------------------------------

    def _call(self, coroutine: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def _run(self) -> None:
        """The loop's thread: run it until stopped, let what is left on it end, then close it."""
        loop = self._loop
        try:
            loop.run_forever()
            loop.run_until_complete(_end_what_is_left())
        finally:
            loop.close()  # its selector and self-pipe socket pair

    def _close_loop(self) -> None:
        """Stop the loop and wait for its thread; a loop never run is closed here (idempotent)."""
        if self._loop.is_closed():
            return
        if not self._thread.is_alive():  # never opened (or its thread is over): nothing runs it
            if self._thread.ident is None:
                self._loop.close()
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_TIMEOUT)


async def _end_what_is_left() -> None:
    """Cancel the tasks still on the loop (a reply's keep-alive being cancelled, say) and await them."""
    left = asyncio.all_tasks() - {asyncio.current_task()}
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def _announced_host(hostname: str) -> str | None:
    """The IPv4 address to announce for ``hostname``; None: the library finds this host's own."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:  # a name
        return None
    return str(address) if address.version == 4 and not address.is_unspecified else None


def _own_address() -> str:
    """This host's address on the network that carries mDNS (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((_MDNS_GROUP, 1))
        except OSError:  # no route to the multicast group: no network but this host's own
            return "127.0.0.1"
        return str(probe.getsockname()[0])
