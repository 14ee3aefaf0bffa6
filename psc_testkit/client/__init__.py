"""The client core every side shares: profiles, the login flow, HTTP with evidence and
redaction, token validation, login drivers."""
