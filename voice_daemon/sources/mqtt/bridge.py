"""The MQTT transport: requests in, events and state out, Home Assistant discovery, Hermes.

paho-mqtt 2.x with MQTT 5: a persistent session (fixed client id, no clean start, session
expiry) and QoS 1 for requests, so requests published while the daemon is down are delivered
when it is back.  Messages are acknowledged manually, only once their request is in the
durable spool (or was rejected for good); synthesis never runs on the network thread.  paho
reconnects with backoff on its own; the rest of the daemon never waits for the broker.  Outgoing
messages go through a bounded :class:`~voice_daemon.sources.mqtt.outbox.Outbox`; the broker is
told not to deliver messages far over ``mqtt.max_payload_bytes`` (MQTT 5 maximum packet size).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, LogLevel
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from voice_daemon.core.events import Changed, Event, Notice
from voice_daemon.core.port import SourcePort, usable
from voice_daemon.core.request import SpeechRequest, make_request, parse_payload, payload_id
from voice_daemon.errors import ConfigError, DuplicateRequest, RequestError, UnknownVoice, VoiceDaemonError
from voice_daemon.settings import MqttSettings
from voice_daemon.sources.mqtt import hermes
from voice_daemon.sources.mqtt import homeassistant as hass
from voice_daemon.sources.mqtt.outbox import Outbox
from voice_daemon.sources.mqtt.topics import Topics

log = logging.getLogger(__name__)
_paho_log = logging.getLogger("paho")

SOURCE = "mqtt"
_PACKET_HEADROOM = 2**20  # bytes over max_payload_bytes still delivered, so that they get an answer
_STOP_FLUSH_SECONDS = 2
Handler = Callable[[paho.MQTTMessage], None]


class MqttBridge:
    """Connects the daemon to one broker; start() returns at once, the connection comes when it can."""

    def __init__(self, settings: MqttSettings, seam: SourcePort) -> None:
        self.settings = settings
        self.seam = seam
        self.topics = Topics.under(settings.topic_prefix)
        self.client_id = settings.client_id or f"voice-daemon-{socket.gethostname()}"
        self.limits = seam.limits.for_source(max_payload_bytes=settings.max_payload_bytes)
        self._routes = self._handlers()
        self._client = self._make_client()
        self._outbox = Outbox(self._client, settings.max_queued_events)
        self._stopping = False

    def start(self) -> None:
        self.seam.subscribe(self._on_notice)
        # paho's Properties is unannotated: mypy strict refuses the call without the ignore
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = int(self.settings.session_expiry_hours * 3600)
        connect.MaximumPacketSize = self.settings.max_payload_bytes + _PACKET_HEADROOM
        log.info(
            "connecting to MQTT broker %s:%d as %s", self.settings.host, self.settings.port, self.client_id
        )
        self._outbox.start()
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            self.settings.keepalive,
            clean_start=False,
            properties=connect,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Publish what is queued, say ``offline`` (a clean stop sends no last will), then disconnect."""
        self._stopping = True
        self._outbox.close(_STOP_FLUSH_SECONDS)
        if self._client.is_connected():
            self._client.publish(self.topics.status, "offline", qos=1, retain=True).wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()

    # -- connection -------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        settings = self.settings
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        client.on_log = self._on_paho_log
        if settings.username:
            client.username_pw_set(settings.username, self._password())
        if settings.tls:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED if settings.tls_verify else ssl.CERT_NONE,
            )
            client.tls_insecure_set(not settings.tls_verify)
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _password(self) -> str | None:
        if self.settings.password_file is None:
            return self.settings.password
        try:
            return self.settings.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file {self.settings.password_file}: {exc.strerror}") from None

    def _on_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        log.info("connected to MQTT broker (session %s)", "resumed" if flags.session_present else "new")
        client.subscribe([(topic, 1) for topic in self._routes])
        self._outbox.retain(self.topics.status, "online")
        self._publish_state()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._stopping:
            log.info("disconnected from MQTT broker")
        else:
            log.warning("disconnected from MQTT broker (%s); reconnecting", reason)

    def _on_paho_log(self, _client: paho.Client, _userdata: Any, level: int, text: str) -> None:
        if (python_level := paho_level(level, text)) is not None:
            _paho_log.log(python_level, text)

    def _handlers(self) -> dict[str, Handler]:
        topics, settings = self.topics, self.settings
        say = f"$share/{settings.share_group}/{topics.say}" if settings.share_group else topics.say
        handlers: dict[str, Handler] = {
            say: self._say,
            topics.notify: self._notify,
            topics.stop: self._stop,
            topics.default_voice_set: self._set_default_voice,
        }
        if settings.voice_topics:
            handlers[topics.say_voice] = self._say
        if settings.hermes:
            handlers[hermes.SAY] = self._hermes_say
        if settings.discovery:
            handlers[f"{settings.discovery_prefix}/status"] = self._home_assistant_status
        return handlers

    def _on_message(self, client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        """Hand ``message`` to its handler, then acknowledge it.

        A handler answers every request it takes (queued, or one 'failed' event); one that
        crashes has not, so the crash is answered here with a 'failed' event, and then the
        message is acknowledged: delivered again, it would crash again.
        """
        handler = next((h for pattern, h in self._routes.items() if _matches(pattern, message.topic)), None)
        try:
            if handler is not None:
                handler(message)
        except Exception as exc:
            log.exception("handling a message on %s failed", message.topic)
            self._answer_crash(message, exc)
        if message.qos > 0:
            client.ack(message.mid, message.qos)

    def _answer_crash(self, message: paho.MQTTMessage, exc: Exception) -> None:
        error = (
            f"internal error handling a message on {message.topic}: {type(exc).__name__} "
            "(see the daemon's log)"
        )
        if message.topic == hermes.SAY:
            context = hermes.context_of(bytes(message.payload))
            self.seam.refuse(error, source=hermes.SOURCE, request_id=context["hermes_id"], context=context)
        else:
            self.seam.refuse(error, source=SOURCE, request_id=payload_id(bytes(message.payload)))

    # -- requests ---------------------------------------------------------------------------

    def _say(self, message: paho.MQTTMessage) -> None:
        fixed = {"source": SOURCE}
        if message.topic.startswith(self.topics.say + "/"):
            fixed["voice"] = message.topic.rsplit("/", 1)[1]  # validated like any voice name
        try:
            request = parse_payload(bytes(message.payload), self.limits, **fixed)
        except RequestError as exc:
            self.seam.refuse(exc, source=SOURCE)
            return
        self._submit(request, message)

    def _notify(self, message: paho.MQTTMessage) -> None:
        try:
            request = make_request(
                {"text": message.payload.decode("utf-8", "replace")}, self.limits, source=SOURCE
            )
        except RequestError as exc:
            self.seam.refuse(exc, source=SOURCE)
            return
        self._submit(request, message)

    def _hermes_say(self, message: paho.MQTTMessage) -> None:
        payload = bytes(message.payload)  # typed bytes | bytearray; paho delivers bytes: no copy
        context = hermes.context_of(payload)
        if context["site_id"] not in self.settings.hermes_site_ids:
            log.debug("ignoring hermes/tts/say for site %s", context["site_id"])
            return
        try:
            request = hermes.parse_say(payload, self.limits, context)
        except RequestError as exc:
            self.seam.refuse(exc, source=hermes.SOURCE, request_id=context["hermes_id"], context=context)
            return
        self._submit(request, message)

    def _submit(self, request: SpeechRequest, message: paho.MQTTMessage) -> None:
        try:
            self.seam.submit(request, redelivered=bool(message.dup))
        except DuplicateRequest:
            log.info("dropping a second delivery of request %s", request.id)
        except VoiceDaemonError as exc:
            self.seam.refuse(exc, request=request)

    # -- commands ---------------------------------------------------------------------------

    def _stop(self, _message: paho.MQTTMessage) -> None:
        log.info(
            "stop requested over MQTT: %s", "stopping" if self.seam.stop_current() else "nothing playing"
        )

    def _set_default_voice(self, message: paho.MQTTMessage) -> None:
        name = message.payload.decode("utf-8", "replace").strip()
        try:
            self.seam.set_default_voice(name)
        except UnknownVoice as exc:
            log.warning("default voice not changed: %s", exc)
            self._outbox.retain(self.topics.last_error, str(exc))
            self._publish_default_voice()  # the select goes back to the voice in use

    def _home_assistant_status(self, message: paho.MQTTMessage) -> None:
        if message.payload == b"online":
            log.info("Home Assistant is online: publishing discovery")
            self._publish_state()

    # -- outgoing ---------------------------------------------------------------------------

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, Changed):
            if notice.what == "voices":
                self._publish_voices()
            else:
                self._publish_default_voice()
            return
        self._on_event(notice)

    def _on_event(self, event: Event) -> None:
        self._publish(self.topics.event, event.payload())
        self._outbox.retain(self.topics.queue, self._queue_length)  # asked when published: once per burst
        if event.state == "started" and event.speaks:
            self._outbox.retain(self.topics.speaking, "ON")
        elif event.final:
            if event.speaks:
                self._outbox.retain(self.topics.speaking, "OFF")
            if event.state == "failed":
                self._outbox.retain(self.topics.last_error, str(event.data.get("error", "")))
            if event.source == hermes.SOURCE:
                self._answer_hermes(event)

    def _answer_hermes(self, event: Event) -> None:
        if event.state == "failed":
            self._publish(hermes.ERROR, hermes.error(event.context, event.data.get("error", "failed")))
        self._publish(hermes.SAY_FINISHED, hermes.finished(event.context))  # dialogue managers wait for it

    def _publish_state(self) -> None:
        state = self.seam.state()
        self._publish_voices()
        self._publish_default_voice()
        self._outbox.retain(self.topics.queue, self._queue_length)
        self._outbox.retain(self.topics.speaking, "ON" if state.speaking else "OFF")

    def _publish_default_voice(self) -> None:
        self._outbox.retain(self.topics.default_voice, self.seam.default_voice)

    def _publish_voices(self) -> None:
        voices = self.seam.voices()
        self._outbox.retain(self.topics.voices, json.dumps([voice.to_dict() for voice in voices]))
        if self.settings.discovery:
            prefix = self.settings.discovery_prefix
            messages = hass.discovery_messages(self.topics, prefix, self.client_id, usable(voices))
            for topic, config in messages.items():
                self._outbox.retain(topic, config)

    def _publish(self, topic: str, payload: Any) -> None:
        self._outbox.send(topic, json.dumps(payload))

    def _queue_length(self) -> str:
        return str(self.seam.queue_length())


def _matches(pattern: str, topic: str) -> bool:
    if pattern.startswith("$share/"):
        pattern = pattern.split("/", 2)[2]
    return paho.topic_matches_sub(pattern, topic)


def paho_level(level: int, text: str) -> int | None:
    """The level at which one of paho's log lines goes into ours; None leaves it out.

    'Client is not connected' is left out: paho 2.2's network loop logs it as an error once more
    after a clean disconnect and at every reconnection attempt.  A lost connection ('failed to
    receive on socket: ... reset by peer') is a warning, not an error: the bridge says itself
    that it is disconnected, and reconnects.
    """
    if text.startswith("Client is not connected"):
        return None
    python_level = paho.LOGGING_LEVEL[LogLevel(level)]
    if text.startswith("failed to receive on socket"):
        return min(python_level, logging.WARNING)
    return python_level
