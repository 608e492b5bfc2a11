"""A question's one path: `Query` (validated once) → retrieval → the gate (`gate.admits`) → the composer →
one `Verdict` (answered / related passages / not found, with its reason and evidence), rendered by `render`."""
