"""The services (features, model, metric, plot, dashboard), each wiring the pure core to a Bus.

Imports everything below `app`.
"""
