"""Text encoders behind the :class:`matcher.embedders.base.Embedder` protocol."""
