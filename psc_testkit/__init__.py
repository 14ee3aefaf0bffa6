"""psc-testkit: conformance and load testing for Pro Santé Connect and other OIDC providers."""

__version__ = "0.1.0"
