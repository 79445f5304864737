"""The station gateway: device supervisors, durable outbox and MQTT session of one Pi."""
