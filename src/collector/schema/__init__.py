"""The data layer beyond the models: SQL text, schema reconcile, query plans."""
