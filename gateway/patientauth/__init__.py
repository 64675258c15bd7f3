"""Patient sign-in: the hospital gateway as the patient's authorisation server (SMART App Launch,
standalone launch, authorization code + PKCE), with pluggable authenticators (invitation codes,
OpenID Connect federation). See docs/patient-sign-in.md."""
