"""The embedded Pro Santé Connect simulator: a real OIDC provider shaped like PSC."""
