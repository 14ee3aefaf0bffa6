"""PSC claims: the JSON Schemas, identifiers and their check digits, claim validation."""
