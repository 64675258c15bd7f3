"""The FHIR store: the only place SQL about FHIR resources lives."""
