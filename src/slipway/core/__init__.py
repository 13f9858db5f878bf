"""Pure domain layer: types, errors, ports and the configuration schema. No I/O."""
