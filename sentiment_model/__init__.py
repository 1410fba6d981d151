"""The registered model formats and what they need at load time: preprocessing, the sequence encoder, the pyfunc
contract, each family's format, and the signed manifest that lets a worker trust a version before reading it.

Imports no service and no shared service code, so a registered version depends on this package alone."""
