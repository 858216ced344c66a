"""Request sources: the drop folder, MQTT (with Home Assistant discovery and Hermes), and later
Wyoming and HTTP.  Each turns its input into a validated request and talks to the daemon only
through :class:`voice_daemon.core.seam.Seam`."""
