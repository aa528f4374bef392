"""Test support: an HTTP API client for the api Lambda, moto fixtures, and the event sink."""
