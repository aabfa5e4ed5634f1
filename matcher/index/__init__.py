"""The engine's persisted, memory-mapped, snapshot indexes: lexical matrices, dense rows, documents, generations."""
