"""The four services. Each is an async function wiring the pure core to a Bus."""
