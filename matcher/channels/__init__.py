"""Scoring channels: each a module implementing :class:`matcher.channels.base.Channel`."""
