"""API keys: random, shown once, stored hashed, with scopes."""
