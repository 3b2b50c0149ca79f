"""HTTP surfaces: parse, validate against the model, call control/ and invoke/, map errors to AWS shapes."""
