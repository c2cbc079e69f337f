"""The contract: topic catalogue, CloudEvents envelope, JSON Schemas, codecs, registry."""
