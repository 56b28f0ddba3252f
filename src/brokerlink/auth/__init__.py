"""Authentication: OAuth flows, token lifecycle, the encrypted secret vault and its keys."""
