"""Reflections as a person asks for them: a quote, a confirmation that reserves its credits and hands the
work to the reflection service through an event, and the finished reflection."""
