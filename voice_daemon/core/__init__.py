"""The core: the one request type, the seam every source uses, the durable queue (spool), the
interactive lane, events, daemon state, and the one synthesis worker that owns the model."""
