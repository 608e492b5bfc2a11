"""The query pipeline. A question's one path: `Query` (validated once) → hits (retrieve) → the gate (`gate.admits`)
→ the composer (answer) → one `Verdict` (answered / related passages / not found, with its reason and evidence),
rendered by `render`; evaluation of both (evaluate)."""
