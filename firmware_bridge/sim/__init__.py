"""Simulated devices that speak the real protocols on a pty, for the demo and the tests."""
