"""mlmon.client: log the predictions and true values of a model you serve yourself.

    from mlmon.client import Monitor

    with Monitor("amqp://guest:guest@rabbit:5672/", model="penguins-hgb", version="3") as m:
        m.log_prediction(request_id, "Adelie", scores={"Adelie": 0.9, ...},
                         features={"island": "Dream", "bill_length_mm": 39.1},
                         tags={"region": "eu"})
        ...
        m.log_label(request_id, "Gentoo")  # hours later, from wherever labels come

Calls only append to a bounded in-memory buffer; a background thread publishes it as Arrow IPC
batches (one AMQP message per few thousand records), with publisher confirms, to the queues
`mlmon up --no-model` (or the metric service) consumes.
"""

from mlmon.client.monitor import BufferFull, Monitor

__all__ = ["BufferFull", "Monitor"]
