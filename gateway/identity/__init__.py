"""A member's identity material: organisation CA, certificates, key files on disk."""
