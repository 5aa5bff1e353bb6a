"""Reflection's pure code: the analysis of a session, the curator's prompt and validation, the price rule."""
