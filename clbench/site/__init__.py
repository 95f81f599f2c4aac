"""`clbench site OUT`: results/ and docs/ as a static site (Material for MkDocs) that opens from disk."""
