"""Renderers that turn a run's events into something a person sees."""
