"""The HTTP source: an OpenAI-compatible speech API, voice management and a web page (README "HTTP API")."""
