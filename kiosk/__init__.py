"""The kiosk: piece ledger, stage workflow, JSON API and MQTT bridge to the gateways."""
