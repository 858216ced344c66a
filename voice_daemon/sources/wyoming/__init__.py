"""The Wyoming source: Home Assistant Assist's text-to-speech over the Wyoming protocol (README
"Home Assistant Assist (Wyoming)"): ``server.py`` (the listener on a thread and event loop of its
own), ``framing.py`` (bounded event reading), ``handler.py`` (one connection's events),
``reply.py`` (one request's audio, sentence by sentence), ``voices.py`` (the voice list)."""
