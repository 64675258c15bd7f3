"""FHIR R4 handling at the edge: ingest validation, search parameters, bundles, capability."""
