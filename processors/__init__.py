"""The domain core: pure functions and small classes from events and `now` to state,
metrics and alerts. No Kafka, Faust, Redis, Prometheus or clock imports."""
