"""Device protocols, pure and testable: bytes in, typed messages out (and back).

No module here opens a port, starts a thread or imports paho; ``firmware_bridge.sim`` holds
simulators that speak these protocols on a pty, for the demo and the tests.
"""
