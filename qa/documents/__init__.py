"""Documents: corpus files → `Document` (text, title, pages) → `Chunk` (the passages an index holds)."""
