"""msgspec Structs that leave (and enter) the API; storage rows are mapped, never returned raw."""
