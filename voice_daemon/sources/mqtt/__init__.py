"""MQTT: requests in, events and state out (``bridge``), topic names, Home Assistant discovery
payloads and the Rhasspy Hermes translation."""
