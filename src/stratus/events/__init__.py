"""Event-driven work around the invoke path: the durable async queue, destinations, event source
pollers and schedules (each calls invoke/ through the same path a client does)."""
