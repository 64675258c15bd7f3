"""Sealed envelopes (sign then encrypt) and members' encryption keys, classical and post-quantum."""
