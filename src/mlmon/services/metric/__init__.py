"""The metric service: intake of halves, the hold policy and the durable wiring."""
