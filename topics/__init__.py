"""The contract: topic catalogue, CloudEvents envelope, JSON Schemas, codecs, registry.

Its hot modules may run compiled (SPOEDSTROOM_CORE=compiled, `topics.compiled`)."""

from topics import compiled

compiled.use(__name__, __path__)
