"""Model families. Each module exposes `train(split, params, context) -> FamilyResult`; add a family here."""
