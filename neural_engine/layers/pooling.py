"""TODO: family not written yet."""

SPECS = ()
